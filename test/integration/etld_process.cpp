#include "etld_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "broker.h"
#include "pipeline/kafka/client.h"

namespace etld::test {

namespace kafka = etld::pipeline::kafka;

std::string etld_binary() {
    return ETLD_BINARY_PATH;
}

EtldProcess::EtldProcess(const std::string& config, const std::string& log_path) {
    const std::string binary = etld_binary();
    pid_ = ::fork();
    if (pid_ < 0) {
        throw std::runtime_error("fork failed");
    }
    if (pid_ == 0) {
        // A process group of its own: a test that stops an instance
        // (SIGSTOP) must not leave a stopped member in a group that may be
        // orphaned, which the kernel would wake with SIGHUP and SIGCONT.
        ::setpgid(0, 0);
        const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            ::close(fd);
        }
        // The test's own signal mask must not leak into the daemon.
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        std::array<const char*, 5> argv{binary.c_str(), "run", "--config", config.c_str(), nullptr};
        ::execv(binary.c_str(), const_cast<char* const*>(argv.data()));
        ::_exit(127);
    }
}

EtldProcess::~EtldProcess() {
    if (!reaped_ && pid_ > 0) {
        kill_now();
    }
}

bool EtldProcess::running() {
    if (reaped_) {
        return false;
    }
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
        reaped_ = true;
        status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return false;
    }
    return true;
}

void EtldProcess::signal(int sig) {
    if (!reaped_) {
        ::kill(pid_, sig);
    }
}

int EtldProcess::wait(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return status_;
}

void EtldProcess::kill_now() {
    signal(SIGKILL);
    wait(std::chrono::seconds(30));
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (done()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return done();
}

void produce_records(const std::string& topic, const std::vector<ProducedRecord>& records) {
    kafka::KafkaPtr producer = kafka::make_producer({{"bootstrap.servers", bootstrap_servers()},
                                                     {"enable.idempotence", "true"},
                                                     {"acks", "all"},
                                                     {"linger.ms", "5"}});
    for (const auto& r : records) {
        while (true) {
            std::array<rd_kafka_vu_t, 5> vus{};
            size_t n = 0;
            vus[n].vtype = RD_KAFKA_VTYPE_TOPIC;
            vus[n++].u.cstr = topic.c_str();
            vus[n].vtype = RD_KAFKA_VTYPE_PARTITION;
            vus[n++].u.i32 = r.partition;
            vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
            vus[n++].u.i32 = RD_KAFKA_MSG_F_COPY;
            vus[n].vtype = RD_KAFKA_VTYPE_VALUE;
            vus[n].u.mem.ptr = const_cast<char*>(r.value.data());
            vus[n++].u.mem.size = r.value.size();
            if (!r.key.empty()) {
                vus[n].vtype = RD_KAFKA_VTYPE_KEY;
                vus[n].u.mem.ptr = const_cast<char*>(r.key.data());
                vus[n++].u.mem.size = r.key.size();
            }
            auto error = kafka::KafkaError::from(rd_kafka_produceva(producer.get(), vus.data(), n));
            if (!error) {
                break;
            }
            if (error->code != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                throw std::runtime_error("produce: " + error->describe());
            }
            rd_kafka_poll(producer.get(), 10);
        }
    }
    if (rd_kafka_flush(producer.get(), 60000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw std::runtime_error("flush timed out");
    }
}

TempDir::TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "etld-it-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error("mkdtemp failed");
    }
    path = pattern;
}

TempDir::~TempDir() {
    if (std::getenv("ETLD_TEST_KEEP") == nullptr) {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
}

}  // namespace etld::test
