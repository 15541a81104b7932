/**
 * @file smo_api.h
 * @brief `api` plugins (the frontend kind): network APIs.
 *
 * A frontend embeds a server on the core's loop (`host->loop`) and serves
 * users by invoking core methods with `host->call` ("graph.deploy",
 * "graph.get", "system.health"...); it holds no orchestration logic. The
 * method catalogue is in docs/architecture.md. In configuration the kind is
 * written `api` (or `frontend`).
 */
#ifndef SMO_API_H
#define SMO_API_H

#include <smo/smo_plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

struct smo_api_ops {
    uint32_t size; /**< sizeof(struct smo_api_ops) */
    /** Optional. Result: {"urls": ["http://127.0.0.1:8000"]}, new. */
    json_t *(*describe)(void *state);
};

#ifdef __cplusplus
}
#endif
#endif /* SMO_API_H */
