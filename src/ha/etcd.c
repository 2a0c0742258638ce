/* etcd v3 JSON gateway client. See etcd.h. */
#include "tmkms/ha/etcd.h"
