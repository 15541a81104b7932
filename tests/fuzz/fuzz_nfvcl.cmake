# fuzz_nfvcl: provisioner_nfvcl's parsers of the NFVCL's answers.
set(fuzz_src_fuzz_nfvcl ${PROJECT_SOURCE_DIR}/plugins/provisioner_nfvcl/nfvcl_parse.c)
set(fuzz_inc_fuzz_nfvcl ${PROJECT_SOURCE_DIR}/plugins/provisioner_nfvcl)
