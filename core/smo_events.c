#define _GNU_SOURCE
/* Recent events in a ring buffer, numbered by a sequence that never goes
 * back. The engine persists them through the store (later issues); the
 * ring serves GET /events without a database round trip. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smo_rt.h"

struct smo__events {
    json_t **ring;
    size_t cap, head, n; /* head: index of the oldest */
    uint64_t seq;
};

struct smo__events *smo__events_new(size_t capacity)
{
    struct smo__events *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->cap = capacity ? capacity : 1000;
    e->ring = calloc(e->cap, sizeof *e->ring);
    if (!e->ring) {
        free(e);
        return NULL;
    }
    return e;
}

void smo__events_free(struct smo__events *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n; i++)
        json_decref(e->ring[(e->head + i) % e->cap]);
    free(e->ring);
    free(e);
}

void smo__events_set_capacity(struct smo__events *e, size_t capacity)
{
    if (!capacity || capacity == e->cap)
        return;
    json_t **nr = calloc(capacity, sizeof *nr);
    if (!nr)
        return;
    size_t keep = e->n < capacity ? e->n : capacity;
    size_t skip = e->n - keep;
    for (size_t i = 0; i < e->n; i++) {
        json_t *ev = e->ring[(e->head + i) % e->cap];
        if (i < skip)
            json_decref(ev);
        else
            nr[i - skip] = ev;
    }
    free(e->ring);
    e->ring = nr;
    e->cap = capacity;
    e->head = 0;
    e->n = keep;
}

uint64_t smo__events_emit(struct smo__events *e, const char *source,
                          const char *type, const char *project,
                          const char *graph, json_t *data)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_int_t ms = (json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    json_t *ev = json_pack(
        "{s:I, s:I, s:s, s:s}", "seq", (json_int_t)(e->seq + 1), "time_ms", ms,
        "type", type ? type : "event", "source", source ? source : "core");
    if (!ev) {
        json_decref(data);
        return 0;
    }
    e->seq++;
    if (project)
        json_object_set_new(ev, "project", json_string(project));
    if (graph)
        json_object_set_new(ev, "graph", json_string(graph));
    json_object_set_new(ev, "data", data ? data : json_object());
    if (e->n == e->cap) {
        json_decref(e->ring[e->head]);
        e->ring[e->head] = ev;
        e->head = (e->head + 1) % e->cap;
    } else {
        e->ring[(e->head + e->n) % e->cap] = ev;
        e->n++;
    }
    return e->seq;
}

json_t *smo__events_list(struct smo__events *e, uint64_t after,
                         const char *graph, size_t limit)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < e->n; i++) {
        json_t *ev = e->ring[(e->head + i) % e->cap];
        if ((uint64_t)json_integer_value(json_object_get(ev, "seq")) <= after)
            continue;
        if (graph) {
            const char *g = json_string_value(json_object_get(ev, "graph"));
            if (!g || strcmp(g, graph) != 0)
                continue;
        }
        json_array_append(arr, ev);
    }
    /* Keep the newest `limit`. */
    if (limit && json_array_size(arr) > limit) {
        json_t *cut = json_array();
        for (size_t i = json_array_size(arr) - limit; i < json_array_size(arr);
             i++)
            json_array_append(cut, json_array_get(arr, i));
        json_decref(arr);
        arr = cut;
    }
    return arr;
}
