# fuzz_alerts: api_http's handling of Alertmanager webhook bodies.
set(fuzz_src_fuzz_alerts ${PROJECT_SOURCE_DIR}/plugins/api_http/alerts.c)
set(fuzz_inc_fuzz_alerts ${PROJECT_SOURCE_DIR}/plugins/api_http)
