/* Internal interface of source_hdarctl: what the tool left behind in its
 * destination directory, read with source_oci's rules (oci.h). */
#ifndef SMO_HDARCTL_H
#define SMO_HDARCTL_H

#include "oci.h"

/** Walk `dir` (never following links) into `files`: directories are
 *  counted, .tar/.tar.gz files (by content) are extracted in memory with
 *  smo__oci_layer_read, other files are listed (YAML contents kept).
 *  Symbolic links, devices and FIFOs are refused (EINVAL); limits give
 *  ETOOBIG. Sorts and checks duplicates (smo__oci_files_finish). */
int smo__hdarctl_read_dir(const char *dir, const struct smo__oci_limits *l,
                          struct smo__oci_files *files, smo_status *st);
/** Remove `dir` and everything below it, without following links.
 *  SMO_OK, or EIO when something stayed. */
int smo__hdarctl_rm_rf(const char *dir);

#endif
