/* provisioner_nfvcl internals: the NFVCL payloads (parsers of its answers
 * and builders of its request bodies). Pure functions on JSON text or
 * jansson values, no host calls, so they are unit-tested and fuzzed alone.
 * Every refusal fills `err` with one line naming what is wrong. */
#ifndef SMO__NFVCL_H
#define SMO__NFVCL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Longest blueprint id accepted (NFVCL's are 6 characters today). */
#define SMO__NFVCL_ID_MAX 64

/** A blueprint id as it may appear in a URL: 1..64 of [A-Za-z0-9_-]. */
bool smo__nfvcl_id_ok(const char *id);

/** A VIM name: DNS-1123 label (it is a store key and a URL segment). */
bool smo__nfvcl_name_ok(const char *name);

/** A pop area: a non-negative integer, or a string of decimal digits (the
 *  original compared the query's string with an integer and never
 *  matched). Returns false for anything else. */
bool smo__nfvcl_area(const json_t *v, int64_t *area);

/** VIM records of a `GET {base}/v1/topology/` answer (`*out` new array):
 *  {name, area, areas, url, type, tenant, networks, mgmt_network,
 *  service_network, use_floating_ip}. Passwords and users never reach the
 *  records. VIMs without a usable name are left out and counted in
 *  `*skipped` (may be NULL). */
int smo__nfvcl_parse_topology(const char *body, size_t len, json_t **out,
                              size_t *skipped, char *err, size_t n);

/** Blueprint id of a `POST .../blue/k8s` answer: its "id" member, else the
 *  word after "Blueprint " in "detail". */
int smo__nfvcl_parse_blue_id(const char *body, size_t len, char *id, size_t idn,
                             char *err, size_t n);

/** Kubernetes clusters of a `GET .../blue/?detailed=true` answer (`*out`
 *  new array): {id, type, status, area, mgmt_network, service_network,
 *  workers, master_flavor}. Blueprints of another type and entries without
 *  a valid id are left out and counted in `*skipped` (may be NULL). */
int smo__nfvcl_parse_blue_list(const char *body, size_t len, json_t **out,
                               size_t *skipped, char *err, size_t n);

/** Check a VIM registration request (the original's keys: topology,
 *  pop_area, vim_name, vim_tenant_name, vim_user, vim_password, vim_url,
 *  mgmt_network and service_network {name, cidr, gateway},
 *  use_floating_ip) and build the `POST {base}/v1/topology` body (`*body`
 *  new, holds the password) and the VIM record SMO keeps (`*vim` new, no
 *  credentials). Every problem is listed in `err`. */
int smo__nfvcl_topology_body(const json_t *req, const char *default_topology,
                             json_t **body, json_t **vim, char *err, size_t n);

/** `POST .../blue/k8s` body: one master area with its networks. */
json_t *smo__nfvcl_k8s_body(int64_t area, const char *mgmt_net,
                            const char *service_net, int64_t workers,
                            int64_t service_ips);

/** `POST .../blue/k8s/add_node` body: `workers` more workers in `area`. */
json_t *smo__nfvcl_add_node_body(int64_t area, const char *mgmt_net,
                                 const char *service_net, int64_t workers);

/** Remove every member whose name mentions a password or secret, at any
 *  depth (answers are shown to users and may echo the request). */
void smo__nfvcl_scrub(json_t *j);

#endif
