# fuzz_prometheus: monitor_prometheus's readers of what comes back from
# Prometheus, the rules file and the Kubernetes API (pure functions only).
set(fuzz_src_fuzz_prometheus
    ${PROJECT_SOURCE_DIR}/plugins/monitor_prometheus/prom_rules.c)
set(fuzz_inc_fuzz_prometheus ${PROJECT_SOURCE_DIR}/plugins/monitor_prometheus)
set(fuzz_lib_fuzz_prometheus m)
