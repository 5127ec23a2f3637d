// What a reload changes, and how each change may be applied.
//
// Which keys are live is decided here, next to the reference etld.toml that documents it, so the
// daemon does not keep its own copy of the list.
#pragma once

#include <string>
#include <vector>

#include "conf/config.h"

namespace etld::conf {

struct ReloadPlan {
    /// Dotted keys whose change needs a restart ("kafka.group_id", "schema.fields", ...). When
    /// non-empty the daemon keeps running the old configuration and says so.
    std::vector<std::string> restart_required;
    /// Dotted keys that changed and apply at once ("service.log_level",
    /// "pipeline.<name>.late_policy", ...).
    std::vector<std::string> live;
    /// Pipelines to start, stop, or restart with fresh state at the next transaction boundary.
    /// A pipeline whose only change is late_policy is listed in `live`, not here.
    std::vector<std::string> added_pipelines;
    std::vector<std::string> removed_pipelines;
    std::vector<std::string> changed_pipelines;

    bool needs_restart() const noexcept { return !restart_required.empty(); }
    bool empty() const noexcept {
        return restart_required.empty() && live.empty() && added_pipelines.empty() &&
               removed_pipelines.empty() && changed_pipelines.empty();
    }
};

/// Compares the running configuration with a newly loaded one. Positions are ignored; moving
/// text around in the file changes nothing.
ReloadPlan plan_reload(const Config& running, const Config& next);

}  // namespace etld::conf
