# fuzz_oci: source_oci's parsers of registry input (manifests, challenges,
# token answers, references) and its gzip/tar reader.
set(_oci ${PROJECT_SOURCE_DIR}/plugins/source_oci)
set(fuzz_src_fuzz_oci ${_oci}/oci_manifest.c ${_oci}/oci_auth.c
    ${_oci}/oci_ref.c ${_oci}/oci_files.c ${_oci}/oci_tar.c
    ${_oci}/oci_select.c ${_oci}/oci_sha256.c)
set(fuzz_inc_fuzz_oci ${_oci})
if(NOT TARGET PkgConfig::ZLIB)
  pkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET GLOBAL zlib)
endif()
set(fuzz_lib_fuzz_oci PkgConfig::ZLIB)
