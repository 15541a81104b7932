#define _GNU_SOURCE
/* systemd notification protocol: one datagram to $NOTIFY_SOCKET (a path,
 * or an abstract socket when it starts with '@'). No libsystemd needed. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "smo_rt.h"

int smo__notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t len = strlen(path);
    if (len >= sizeof sa.sun_path)
        return SMO_EINVAL;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return SMO_EIO;
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
                       (struct sockaddr *)&sa, salen);
    int saved = errno;
    close(fd);
    if (n < 0) {
        errno = saved;
        return SMO_EIO;
    }
    return 0;
}

uint64_t smo__watchdog_usec(void)
{
    const char *u = getenv("WATCHDOG_USEC");
    if (!u || !*u)
        return 0;
    const char *pid = getenv("WATCHDOG_PID");
    if (pid && *pid && (pid_t)strtol(pid, NULL, 10) != getpid())
        return 0;
    char *end;
    unsigned long long v = strtoull(u, &end, 10);
    return *end ? 0 : (uint64_t)v;
}
