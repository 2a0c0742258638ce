/* A tmkms-ha.so that tmkms must refuse (tests/integration/modules.sh), one kind per build:
 * BAD_VERSION: the version 1 entry point, but its table says version 2; BAD_BUILD: built
 * for another tmkms; BAD_SYMBOL: a later module, whose only entry point is
 * tmkms_module_ha_v2; BAD_UNRESOLVED: needs a symbol no tmkms has, so dlopen fails. */
#include "tmkms/ha/module.h"

#if defined(BAD_VERSION)
static const tm_module_ha table = {
    .header = {TM_MODULE_HA_VERSION + 1, sizeof(tm_module_ha), TM_MODULE_BUILD}};
#elif defined(BAD_BUILD)
static const tm_module_ha table = {.header = {TM_MODULE_HA_VERSION, sizeof(tm_module_ha), "0.0.0+other"}};
#else
static const tm_module_ha table = {.header = {TM_MODULE_HA_VERSION, sizeof(tm_module_ha), TM_MODULE_BUILD}};
#endif

#if defined(BAD_SYMBOL)
TM_MODULE_EXPORT const tm_module_ha *tmkms_module_ha_v2(void);
TM_MODULE_EXPORT const tm_module_ha *tmkms_module_ha_v2(void)
{
    return &table;
}
#elif defined(BAD_UNRESOLVED)
void tm_module_test_no_such_function(void);
TM_MODULE_EXPORT const tm_module_ha *tmkms_module_ha_v1(void)
{
    tm_module_test_no_such_function();
    return &table;
}
#else
TM_MODULE_EXPORT const tm_module_ha *tmkms_module_ha_v1(void)
{
    return &table;
}
#endif
