package store

/*
// The few SQLite declarations needed here; the library itself is the one
// github.com/mattn/go-sqlite3 links into the binary.
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_api_routines sqlite3_api_routines;
int sqlite3_auto_extension(void (*entry)(void));
int sqlite3_db_config(sqlite3 *db, int op, ...);

#define BIZBOTS_DBCONFIG_ENABLE_QPSG 1007 // SQLITE_DBCONFIG_ENABLE_QPSG

static int bizbots_stable_plans(sqlite3 *db, char **err, const sqlite3_api_routines *api) {
	(void)err;
	(void)api;
	return sqlite3_db_config(db, BIZBOTS_DBCONFIG_ENABLE_QPSG, 1, (int *)0);
}

static int bizbots_register_stable_plans(void) {
	return sqlite3_auto_extension((void (*)(void))bizbots_stable_plans);
}
*/
import "C"

import (
	"fmt"
	"sync"
)

// stablePlans turns on SQLite's query planner stability guarantee for
// every connection the process opens from now on. Without it, a statement
// whose plan could depend on a bound value (a filter term `col = $n`
// beside the index lookup is enough) is marked to be compiled again when
// its values are cleared, and go-sqlite3 clears them after every use: the
// claim of a room's next event was parsed and planned anew on each call,
// which cost more than running it. bizbots' statements do not need plans
// tuned to their values.
var stablePlans = sync.OnceValue(func() error {
	if rc := C.bizbots_register_stable_plans(); rc != 0 {
		return fmt.Errorf("sqlite: cannot register connection set-up (code %d)", int(rc))
	}
	return nil
})
