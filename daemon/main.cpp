// etld's entry point. Everything lives in the daemon library (cli.h); this
// file only hands over the arguments so tests can drive the same code.
#include "daemon/cli.h"

int main(int argc, char** argv) {
    return etld::daemon::run_cli(argc, argv);
}
