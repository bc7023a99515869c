// libpq (Debian libpq-dev): the spend ledger in PostgreSQL, shared by every gateway
// host. Only the UsageLedger target includes it.
#include <libpq-fe.h>
