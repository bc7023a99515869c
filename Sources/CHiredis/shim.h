// hiredis (Debian libhiredis-dev): the keys' limits counted in Redis, shared by every
// gateway host. Only the SharedLimits target includes it.
#include <hiredis/hiredis.h>
