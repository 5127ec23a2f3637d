#include "daemon/validate.h"

#include <ostream>

#include "conf/load.h"
#include "daemon/cli.h"
#include "daemon/engine_spec.h"

namespace etld::daemon {

int validate_command(const std::string& path, std::ostream& out, std::ostream& err) {
    const conf::LoadResult result = conf::load_config_file(path);
    if (!result.ok()) {
        err << conf::format_errors(result.errors());
        err << path << ": " << result.errors().size()
            << (result.errors().size() == 1 ? " error\n" : " errors\n");
        return kExitConfig;
    }
    const conf::Config& config = result.config();
    const EngineBuild build = build_engine(config, path);
    if (!build.errors.empty()) {
        err << conf::format_errors(build.errors);
        err << path << ": " << build.errors.size()
            << (build.errors.size() == 1 ? " error\n" : " errors\n");
        return kExitConfig;
    }
    out << path << ": ok (" << config.pipelines.size()
        << (config.pipelines.size() == 1 ? " pipeline" : " pipelines") << ")\n";
    return kExitOk;
}

}  // namespace etld::daemon
