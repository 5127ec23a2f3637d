#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "conf/config.h"
#include "conf/load.h"
#include "conf/secrets.h"
#include "test/unit/conf/conf_test_util.h"

using namespace etld::conf;
namespace fs = std::filesystem;

namespace {

// A file in the temporary directory, removed when the test ends.
class TempFile {
  public:
    TempFile(const std::string& tag, const std::string& contents)
        : path_(fs::temp_directory_path() /
                ("etld_conf_test_" + std::to_string(::getpid()) + "_" + tag)) {
        std::ofstream out(path_, std::ios::binary | std::ios::trunc);
        out << contents;
    }
    ~TempFile() {
        std::error_code ignored;
        fs::remove(path_, ignored);
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;

    std::string path() const { return path_.string(); }

  private:
    fs::path path_;
};

// An environment variable set for the duration of a test.
class ScopedEnv {
  public:
    ScopedEnv(std::string name, const std::string& value) : name_(std::move(name)) {
        ::setenv(name_.c_str(), value.c_str(), 1);
    }
    ~ScopedEnv() { ::unsetenv(name_.c_str()); }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

    const std::string& name() const { return name_; }

  private:
    std::string name_;
};

constexpr const char* kFileSecret = "s3cr3t-from-file";
constexpr const char* kEnvSecret = "s3cr3t-from-env";

Config config_with_secrets(const std::string& file, const std::string& env) {
    return test::must_load(std::string(test::kMinimal) + "\n[kafka.secrets]\n" +
                           "\"ssl.key.password\" = { file = \"" + file + "\" }\n" +
                           "\"sasl.password\" = { env = \"" + env + "\" }\n");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(secrets)

BOOST_AUTO_TEST_CASE(a_secret_is_read_from_a_file_without_its_trailing_newline) {
    const TempFile file("file", std::string(kFileSecret) + "\n");
    const ScopedEnv env("ETLD_CONF_TEST_SECRET_A", kEnvSecret);
    const auto values = resolve_secrets(config_with_secrets(file.path(), env.name()).kafka);
    BOOST_TEST(values.size() == 2U);
    BOOST_TEST(values.at("ssl.key.password") == kFileSecret);

    const TempFile crlf("crlf", "pw\r\n");
    KafkaConfig kafka;
    kafka.secrets["sasl.password"] = SecretRef{SecretKind::file, crlf.path()};
    BOOST_TEST(resolve_secrets(kafka).at("sasl.password") == "pw");
}

BOOST_AUTO_TEST_CASE(a_secret_is_read_from_an_environment_variable) {
    const TempFile file("env", kFileSecret);
    const ScopedEnv env("ETLD_CONF_TEST_SECRET_B", kEnvSecret);
    const auto values = resolve_secrets(config_with_secrets(file.path(), env.name()).kafka);
    BOOST_TEST(values.at("sasl.password") == kEnvSecret);
    BOOST_TEST(values.at("ssl.key.password") == kFileSecret);
}

BOOST_AUTO_TEST_CASE(every_unreadable_secret_is_reported_at_once_without_any_value) {
    const TempFile empty("empty", "\n");
    const ScopedEnv blank("ETLD_CONF_TEST_SECRET_BLANK", "");
    KafkaConfig kafka;
    kafka.secrets["a.password"] = SecretRef{SecretKind::file, "/nonexistent/etld/pw"};
    kafka.secrets["b.password"] = SecretRef{SecretKind::env, "ETLD_CONF_TEST_SECRET_UNSET"};
    kafka.secrets["c.password"] = SecretRef{SecretKind::file, empty.path()};
    kafka.secrets["d.password"] = SecretRef{SecretKind::env, blank.name()};
    try {
        (void)resolve_secrets(kafka);
        BOOST_FAIL("expected SecretError");
    } catch (const SecretError& e) {
        BOOST_TEST(std::string(e.what()) ==
                   "cannot read secrets:\n"
                   "  'a.password' from file /nonexistent/etld/pw: No such file or directory\n"
                   "  'b.password' from env ETLD_CONF_TEST_SECRET_UNSET: the variable is not set\n"
                   "  'c.password' from file " +
                       empty.path() +
                       ": the file is empty\n"
                       "  'd.password' from env ETLD_CONF_TEST_SECRET_BLANK: the variable is "
                       "empty");
    }
}

BOOST_AUTO_TEST_CASE(an_oversized_secret_file_is_refused_and_its_contents_not_repeated) {
    const std::string big(64 * 1024 + 1, 'x');
    const TempFile file("big", big);
    KafkaConfig kafka;
    kafka.secrets["sasl.password"] = SecretRef{SecretKind::file, file.path()};
    try {
        (void)resolve_secrets(kafka);
        BOOST_FAIL("expected SecretError");
    } catch (const SecretError& e) {
        const std::string what = e.what();
        BOOST_TEST(what.find("larger than 64 KiB") != std::string::npos);
        BOOST_TEST(what.find("xxxx") == std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(secrets_never_appear_in_the_redacted_description) {
    const TempFile file("redacted", std::string(kFileSecret) + "\n");
    const ScopedEnv env("ETLD_CONF_TEST_SECRET_C", kEnvSecret);
    const Config c = config_with_secrets(file.path(), env.name());
    const auto values = resolve_secrets(c.kafka);
    BOOST_REQUIRE(values.size() == 2U);

    const std::string description = redacted(c);
    BOOST_TEST(description.find(kFileSecret) == std::string::npos);
    BOOST_TEST(description.find(kEnvSecret) == std::string::npos);
    BOOST_TEST(description.find("\"sasl.password\" = { env = \"" + env.name() + "\" }") !=
               std::string::npos);
    BOOST_TEST(description.find("\"ssl.key.password\" = { file = \"" + file.path() + "\" }") !=
               std::string::npos);

    // A Config built by hand can hold a secret in a passthrough map; it is still masked.
    Config by_hand = c;
    by_hand.kafka.consumer["sasl.password"] = kEnvSecret;
    const std::string masked = redacted(by_hand);
    BOOST_TEST(masked.find(kEnvSecret) == std::string::npos);
    BOOST_TEST(masked.find("\"sasl.password\" = \"<redacted>\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(loading_a_config_reads_no_secret) {
    // References to a missing file and an unset variable load fine; only resolving fails.
    const Config c = config_with_secrets("/nonexistent/etld/pw", "ETLD_CONF_TEST_SECRET_UNSET");
    BOOST_TEST(c.kafka.secrets.size() == 2U);
    BOOST_CHECK_THROW((void)resolve_secrets(c.kafka), SecretError);
}

BOOST_AUTO_TEST_SUITE_END()
