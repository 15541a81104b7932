/**
 * @file smo.h
 * @brief Everything a plugin author needs: include this one header.
 */
#ifndef SMO_H
#define SMO_H

#include <smo/smo_plugin.h>
#include <smo/smo_host.h>
#include <smo/smo_source.h>
#include <smo/smo_translator.h>
#include <smo/smo_solver.h>
#include <smo/smo_executor.h>
#include <smo/smo_monitor.h>
#include <smo/smo_provisioner.h>
#include <smo/smo_store.h>
#include <smo/smo_api.h>

#endif /* SMO_H */
