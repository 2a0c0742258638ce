/* Loading tmkms's modules (tmkms/module.h) when the config asks for their feature. A
 * module is looked for in $TMKMS_MODULE_DIR when it is set (there only), else in
 * ../lib/tmkms beside the executable (the build tree, or an install under one prefix),
 * then in the directory it is installed into (TMKMS_MODULE_INSTALL_DIR). It is opened with
 * RTLD_NOW | RTLD_LOCAL and stays loaded until the process exits (never dlclose'd: its
 * libraries may keep threads or exit handlers). Errors name the config section, the files
 * looked for and dlerror(), or the version a module has and the one this tmkms needs.
 * Main thread only; a module is loaded once and its table kept. */
#ifndef TMKMS_MODULES_H
#define TMKMS_MODULES_H

#include <stdint.h>

#include "tmkms/error.h"
#include "tmkms/ha/module.h"
#include "tmkms/module.h"

tm_status tm_modules_ha(const tm_module_ha **out);
tm_status tm_modules_metrics(const tm_module_metrics **out);

#endif
