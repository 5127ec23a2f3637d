// Runs the real `etld` binary as a child process for integration tests, and
// the small pieces those tests share: writing a config, producing records,
// waiting for a condition.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace etld::test {

// The etld binary under test (set by the build).
std::string etld_binary();

class EtldProcess {
  public:
    // Starts `etld run --config <config>`; stdout and stderr go to `log_path`
    // (appended).
    EtldProcess(const std::string& config, const std::string& log_path);
    ~EtldProcess();
    EtldProcess(const EtldProcess&) = delete;
    EtldProcess& operator=(const EtldProcess&) = delete;

    pid_t pid() const { return pid_; }
    bool running();
    void signal(int sig);
    // Waits for the process to exit; returns its exit status (128+signal
    // when killed), or -1 on timeout.
    int wait(std::chrono::milliseconds timeout);
    // SIGKILL and reap.
    void kill_now();

  private:
    pid_t pid_ = -1;
    int status_ = -1;
    bool reaped_ = false;
};

// Polls `done` every 100 ms until it returns true or `timeout` passes.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);

struct ProducedRecord {
    int partition = 0;
    std::string key;
    std::string value;
};

// Produces the records (idempotent, acks=all) and waits for delivery.
void produce_records(const std::string& topic, const std::vector<ProducedRecord>& records);

// A fresh directory under the system temp dir, removed by the destructor.
struct TempDir {
    std::string path;
    TempDir();
    ~TempDir();
};

}  // namespace etld::test
