// SQLite 3 (Debian libsqlite3-dev): the spend ledger's file, shared by every process on
// the host. Only the UsageLedger target includes it.
#include <sqlite3.h>
