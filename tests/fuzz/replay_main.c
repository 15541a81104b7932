/* Replays a fuzz target over corpus files (a directory or files), so the
 * corpus runs as an ordinary CTest test without libFuzzer. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 1;
}

static size_t replay(const char *path)
{
    struct stat sb;
    if (stat(path, &sb)) {
        fprintf(stderr, "cannot stat %s\n", path);
        exit(2);
    }
    if (!S_ISDIR(sb.st_mode))
        return replay_file(path);
    size_t count = 0;
    struct dirent **ents;
    int n = scandir(path, &ents, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        if (ents[i]->d_name[0] != '.') {
            char *p = NULL;
            if (asprintf(&p, "%s/%s", path, ents[i]->d_name) > 0) {
                count += replay(p);
                free(p);
            }
        }
        free(ents[i]);
    }
    free(ents);
    return count;
}

int main(int argc, char **argv)
{
    size_t total = 0;
    for (int i = 1; i < argc; i++)
        total += replay(argv[i]);
    printf("replayed %zu inputs without a crash\n", total);
    return total ? 0 : 1;
}
