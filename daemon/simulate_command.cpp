#include "daemon/simulate_command.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

#include "conf/duration.h"
#include "daemon/simulator.h"
#include "pipeline/kafka/admin.h"
#include "pipeline/kafka/client.h"

namespace etld::daemon {

namespace {

namespace kafka = etld::pipeline::kafka;
using Clock = std::chrono::steady_clock;

// sysexits.h values; named here so they cannot clash with the CLI's own.
constexpr int kSimExitOk = 0;
constexpr int kSimExitUsage = 64;
constexpr int kSimExitUnavailable = 69;
constexpr int kSimExitSoftware = 70;
constexpr int kSimExitCannotCreate = 73;

constexpr auto kMetadataTimeout = std::chrono::seconds(10);
constexpr auto kFlushTimeout = std::chrono::seconds(60);
constexpr auto kProgressInterval = std::chrono::seconds(1);

constexpr const char* kUsage =
    "usage: etld simulate --bootstrap HOST:PORT --topic NAME (--count N | --duration 30s) "
    "[options]\n"
    "       etld simulate --output FILE|- (--count N | --duration 30s) [options]\n"
    "\n"
    "Publishes simulated e-commerce events (view, add_to_cart, purchase, remove_from_cart)\n"
    "with an idempotent acks=all producer, then prints a summary.\n"
    "\n"
    "  --bootstrap HOST:PORT          Kafka bootstrap servers\n"
    "  --topic NAME                   existing topic to write to (its partitions are used)\n"
    "  --create-topic PARTITIONS      create the topic with this many partitions if missing\n"
    "  --count N                      stop after N records (all kinds)\n"
    "  --duration D                   stop after D of wall time (e.g. 30s, 5m)\n"
    "  --rate R                       records per second; 0 = as fast as possible (default)\n"
    "  --event-time-start ISO|now     event time of the first record (default now)\n"
    "  --time-scale X                 event time runs X times faster than wall time (default 1)\n"
    "  --event-time-step D            fixed event-time step per record (deterministic)\n"
    "  --disorder D                   jitter each event's time back by up to D (default 0)\n"
    "  --duplicate-rate F             share of records that re-send an earlier event\n"
    "  --duplicate-other-partition F  share of duplicates sent to another partition (0.25)\n"
    "  --late-rate F                  share of records that are late events\n"
    "  --late-by D                    how far late events are behind the stream (10m)\n"
    "  --malformed-rate F             share of records that are not valid events\n"
    "  --mix view=W,add_to_cart=W,purchase=W,remove_from_cart=W\n"
    "                                 relative event-type weights (default equal)\n"
    "  --key user_id|event_id|none    record key (default user_id)\n"
    "  --seed N                       random seed (default: random, printed in the summary)\n"
    "  --acks all|1|0                 producer acks (default all; idempotence needs all)\n"
    "  -X, --producer-property K=V    extra librdkafka producer property (repeatable)\n"
    "  --output FILE|-                write 'key<TAB>value' lines instead of producing\n"
    "  --dry-run                      same as --output - unless --output is given\n"
    "  --progress                     print a progress line every second on stderr\n"
    "  --summary-json FILE            also write the summary as JSON\n"
    "  --help                         print this text\n";

struct UsageError {
    std::string message;
};

struct Settings {
    SimulatorOptions generator;
    bool start_now = true;
    bool seed_given = false;
    bool time_scale_given = false;
    std::string bootstrap;
    std::string topic;
    int create_partitions = 0;  // > 0: create the topic when it is missing
    std::optional<std::uint64_t> count;
    std::optional<std::chrono::milliseconds> duration;
    double rate = 0.0;
    std::string acks = "all";
    std::optional<std::string> output;
    bool dry_run = false;
    bool progress = false;
    std::optional<std::string> summary_json;
    kafka::Properties extra_properties;
    bool help = false;
};

std::uint64_t parse_count(std::string_view option, std::string_view text) {
    std::uint64_t value = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end) {
        throw UsageError{std::string(option) + " expects a non-negative integer, got '" +
                         std::string(text) + "'"};
    }
    return value;
}

std::uint64_t parse_seed(std::string_view text) {
    std::uint64_t value = 0;
    int base = 10;
    std::string_view digits = text;
    if (digits.size() > 2 && (digits.substr(0, 2) == "0x" || digits.substr(0, 2) == "0X")) {
        base = 16;
        digits.remove_prefix(2);
    }
    const auto* end = digits.data() + digits.size();
    const auto [ptr, ec] = std::from_chars(digits.data(), end, value, base);
    if (digits.empty() || ec != std::errc() || ptr != end) {
        throw UsageError{"--seed expects an unsigned 64-bit integer (decimal or 0x hex), got '" +
                         std::string(text) + "'"};
    }
    return value;
}

double parse_number(std::string_view option, std::string_view text) {
    double value = 0.0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(value)) {
        throw UsageError{std::string(option) + " expects a number, got '" + std::string(text) +
                         "'"};
    }
    return value;
}

std::chrono::milliseconds parse_span(std::string_view option, std::string_view text) {
    const conf::ParsedDuration parsed = conf::parse_duration(text);
    if (!parsed.ok()) {
        throw UsageError{std::string(option) + ": " + parsed.error};
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(parsed.value);
}

// Reads exactly `n` digits at `pos` and advances it.
std::optional<int> take_digits(std::string_view s, std::size_t& pos, std::size_t n) {
    if (pos + n > s.size()) {
        return std::nullopt;
    }
    int value = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const char c = s[pos + i];
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        value = value * 10 + (c - '0');
    }
    pos += n;
    return value;
}

// ISO-8601 instant with a zone: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM).
std::optional<SimTime> parse_instant(std::string_view s) {
    std::size_t pos = 0;
    auto expect = [&](char c) {
        if (pos < s.size() && s[pos] == c) {
            ++pos;
            return true;
        }
        return false;
    };
    const auto year = take_digits(s, pos, 4);
    if (!year || !expect('-')) {
        return std::nullopt;
    }
    const auto month = take_digits(s, pos, 2);
    if (!month || !expect('-')) {
        return std::nullopt;
    }
    const auto day = take_digits(s, pos, 2);
    if (!day || !(expect('T') || expect('t'))) {
        return std::nullopt;
    }
    const auto hour = take_digits(s, pos, 2);
    if (!hour || !expect(':')) {
        return std::nullopt;
    }
    const auto minute = take_digits(s, pos, 2);
    if (!minute || !expect(':')) {
        return std::nullopt;
    }
    const auto second = take_digits(s, pos, 2);
    if (!second) {
        return std::nullopt;
    }
    int millis = 0;
    if (expect('.')) {
        int digits = 0;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
            if (digits < 3) {
                millis = millis * 10 + (s[pos] - '0');
            }
            ++digits;
            ++pos;
        }
        if (digits == 0) {
            return std::nullopt;
        }
        for (int d = digits; d < 3; ++d) {
            millis *= 10;
        }
    }
    int offset_minutes = 0;
    if (expect('Z') || expect('z')) {
        // UTC
    } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
        const int sign = s[pos] == '-' ? -1 : 1;
        ++pos;
        const auto oh = take_digits(s, pos, 2);
        if (!oh || !expect(':')) {
            return std::nullopt;
        }
        const auto om = take_digits(s, pos, 2);
        if (!om || *oh > 23 || *om > 59) {
            return std::nullopt;
        }
        offset_minutes = sign * (*oh * 60 + *om);
    } else {
        return std::nullopt;
    }
    if (pos != s.size()) {
        return std::nullopt;
    }
    const std::chrono::year_month_day ymd{std::chrono::year(*year),
                                          std::chrono::month(static_cast<unsigned>(*month)),
                                          std::chrono::day(static_cast<unsigned>(*day))};
    if (!ymd.ok() || *hour > 23 || *minute > 59 || *second > 59) {
        return std::nullopt;
    }
    return SimTime(std::chrono::sys_days(ymd)) + std::chrono::hours(*hour) +
           std::chrono::minutes(*minute - offset_minutes) + std::chrono::seconds(*second) +
           std::chrono::milliseconds(millis);
}

std::array<double, kEventTypeCount> parse_mix(std::string_view text) {
    std::array<double, kEventTypeCount> weights{};
    std::array<bool, kEventTypeCount> seen{};
    while (!text.empty()) {
        const std::size_t comma = text.find(',');
        const std::string_view item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        const std::size_t eq = item.find('=');
        const auto type = parse_event_type(item.substr(0, eq));
        if (eq == std::string_view::npos || !type) {
            throw UsageError{
                "--mix expects TYPE=WEIGHT items (view, add_to_cart, purchase, "
                "remove_from_cart), got '" +
                std::string(item) + "'"};
        }
        const auto index = static_cast<std::size_t>(*type);
        if (seen.at(index)) {
            throw UsageError{"--mix names " + std::string(to_string(*type)) + " twice"};
        }
        seen.at(index) = true;
        weights.at(index) = parse_number("--mix", item.substr(eq + 1));
    }
    return weights;
}

Settings parse_settings(const std::vector<std::string>& args) {
    Settings s;
    std::optional<std::string> start_text;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string name = args[i];
        std::optional<std::string> inline_value;
        if (name.rfind("--", 0) == 0) {
            if (const std::size_t eq = name.find('='); eq != std::string::npos) {
                inline_value = name.substr(eq + 1);
                name.resize(eq);
            }
        }
        auto value = [&]() -> std::string {
            if (inline_value) {
                return *inline_value;
            }
            if (i + 1 >= args.size()) {
                throw UsageError{name + " needs a value"};
            }
            return args[++i];
        };
        auto flag = [&] {
            if (inline_value) {
                throw UsageError{name + " takes no value"};
            }
        };
        if (name == "--help" || name == "-h") {
            flag();
            s.help = true;
        } else if (name == "--bootstrap") {
            s.bootstrap = value();
        } else if (name == "--topic") {
            s.topic = value();
        } else if (name == "--create-topic") {
            const std::string text = value();
            int n = 0;
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
            if (ec != std::errc() || end != text.data() + text.size() || n < 1 || n > 10000) {
                throw UsageError{"--create-topic takes a partition count 1..10000"};
            }
            s.create_partitions = n;
        } else if (name == "--count") {
            s.count = parse_count(name, value());
        } else if (name == "--duration") {
            s.duration = parse_span(name, value());
        } else if (name == "--rate") {
            s.rate = parse_number(name, value());
            if (s.rate < 0.0) {
                throw UsageError{"--rate cannot be negative"};
            }
        } else if (name == "--event-time-start") {
            start_text = value();
        } else if (name == "--time-scale") {
            s.generator.time_scale = parse_number(name, value());
            s.time_scale_given = true;
        } else if (name == "--event-time-step") {
            s.generator.event_time_step = parse_span(name, value());
        } else if (name == "--disorder") {
            s.generator.disorder = parse_span(name, value());
        } else if (name == "--duplicate-rate") {
            s.generator.duplicate_rate = parse_number(name, value());
        } else if (name == "--duplicate-other-partition") {
            s.generator.duplicate_other_partition = parse_number(name, value());
        } else if (name == "--late-rate") {
            s.generator.late_rate = parse_number(name, value());
        } else if (name == "--late-by") {
            s.generator.late_by = parse_span(name, value());
        } else if (name == "--malformed-rate") {
            s.generator.malformed_rate = parse_number(name, value());
        } else if (name == "--mix") {
            s.generator.type_weights = parse_mix(value());
        } else if (name == "--key") {
            const std::string text = value();
            const auto mode = parse_key_mode(text);
            if (!mode) {
                throw UsageError{"--key expects user_id, event_id or none, got '" + text + "'"};
            }
            s.generator.key = *mode;
        } else if (name == "--seed") {
            s.generator.seed = parse_seed(value());
            s.seed_given = true;
        } else if (name == "--acks") {
            s.acks = value();
            if (s.acks != "all" && s.acks != "-1" && s.acks != "1" && s.acks != "0") {
                throw UsageError{"--acks expects all, 1 or 0, got '" + s.acks + "'"};
            }
        } else if (name == "-X" || name == "--producer-property") {
            const std::string text = value();
            const std::size_t eq = text.find('=');
            if (eq == std::string::npos || eq == 0) {
                throw UsageError{name.append(" expects NAME=VALUE, got '").append(text) + "'"};
            }
            s.extra_properties.emplace_back(text.substr(0, eq), text.substr(eq + 1));
        } else if (name == "--output") {
            s.output = value();
        } else if (name == "--dry-run") {
            flag();
            s.dry_run = true;
        } else if (name == "--progress") {
            flag();
            s.progress = true;
        } else if (name == "--summary-json") {
            s.summary_json = value();
        } else {
            throw UsageError{"unknown option '" + args[i] + "'"};
        }
    }
    if (s.help) {
        return s;
    }
    if (s.dry_run && !s.output) {
        s.output = "-";
    }
    if (!s.output) {
        if (s.bootstrap.empty()) {
            throw UsageError{"--bootstrap is required (or --output / --dry-run)"};
        }
        if (s.topic.empty()) {
            throw UsageError{"--topic is required (or --output / --dry-run)"};
        }
    }
    if (!s.count && !s.duration) {
        throw UsageError{"give --count or --duration (or both: whichever comes first)"};
    }
    if (s.generator.event_time_step && s.time_scale_given) {
        throw UsageError{"--time-scale and --event-time-step exclude each other"};
    }
    if (start_text && *start_text != "now") {
        const auto start = parse_instant(*start_text);
        if (!start) {
            throw UsageError{
                "--event-time-start expects 'now' or an ISO-8601 instant with a zone, "
                "e.g. 2026-11-25T10:30:00Z, got '" +
                *start_text + "'"};
        }
        s.generator.event_time_start = *start;
        s.start_now = false;
    }
    if (std::string problem = validate(s.generator); !problem.empty()) {
        throw UsageError{problem};
    }
    return s;
}

// Delivery outcomes, filled by librdkafka's callbacks inside poll/flush on
// the command's own thread.
struct Deliveries {
    std::uint64_t delivered = 0;
    std::uint64_t failed = 0;
    std::vector<std::uint64_t> by_partition;
    std::string first_failure;
    std::string last_error;
};

void on_delivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* message, void* opaque) {
    auto* d = static_cast<Deliveries*>(opaque);
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++d->failed;
        if (d->first_failure.empty()) {
            // Not rd_kafka_message_errstr: for a delivery report it returns the payload.
            d->first_failure = std::string(rd_kafka_err2name(message->err)) + ": " +
                               rd_kafka_err2str(message->err);
        }
        return;
    }
    ++d->delivered;
    if (message->partition >= 0 &&
        static_cast<std::size_t>(message->partition) < d->by_partition.size()) {
        ++d->by_partition.at(static_cast<std::size_t>(message->partition));
    }
}

void on_error(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
    auto* d = static_cast<Deliveries*>(opaque);
    d->last_error =
        std::string(rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))) + ": " + reason;
}

// make_producer() builds its conf from strings only, and delivery reports
// need a callback and an opaque on the conf, so the handle is made here from
// make_conf() in the same way.
kafka::KafkaPtr make_reporting_producer(const kafka::Properties& properties,
                                        Deliveries& deliveries) {
    kafka::ConfPtr conf = kafka::make_conf(properties);
    rd_kafka_conf_set_dr_msg_cb(conf.get(), on_delivery);
    rd_kafka_conf_set_error_cb(conf.get(), on_error);
    rd_kafka_conf_set_opaque(conf.get(), &deliveries);
    std::array<char, 512> error{};
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), error.data(), error.size());
    if (rk == nullptr) {
        throw std::runtime_error(std::string("cannot create Kafka producer: ") + error.data());
    }
    (void)conf.release();  // owned by rk from here on
    return kafka::KafkaPtr(rk);
}

struct RunResult {
    std::uint64_t sent = 0;
    std::uint64_t failures = 0;
    std::vector<std::uint64_t> by_partition;
    std::chrono::duration<double> elapsed{0};
    std::string failure;  // first failure, for the message
    bool fatal = false;
};

// Paces records and reports progress; the sink decides where records go.
class Pacer {
  public:
    Pacer(const Settings& s, std::ostream& err)
        : settings_(s), err_(err), start_(Clock::now()), last_report_(start_) {}

    Clock::time_point start() const { return start_; }

    bool done(std::uint64_t produced, Clock::time_point now) const {
        if (settings_.count && produced >= *settings_.count) {
            return true;
        }
        return settings_.duration && now - start_ >= *settings_.duration;
    }

    // How long until record `n` is due; zero when it is due already.
    Clock::duration wait_for(std::uint64_t n, Clock::time_point now) const {
        if (settings_.rate <= 0.0) {
            return Clock::duration::zero();
        }
        const auto due =
            start_ + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(static_cast<double>(n) / settings_.rate));
        return due > now ? due - now : Clock::duration::zero();
    }

    void progress(std::uint64_t produced, std::uint64_t acknowledged, std::uint64_t failed,
                  Clock::time_point now) {
        if (!settings_.progress || now - last_report_ < kProgressInterval) {
            return;
        }
        const std::chrono::duration<double> span = now - last_report_;
        const double rate =
            span.count() > 0 ? static_cast<double>(produced - last_count_) / span.count() : 0.0;
        err_ << "etld simulate: sent " << produced << " (acknowledged " << acknowledged
             << ", failed " << failed << "), " << static_cast<std::uint64_t>(rate) << " records/s\n"
             << std::flush;
        last_report_ = now;
        last_count_ = produced;
    }

  private:
    const Settings& settings_;
    std::ostream& err_;
    Clock::time_point start_;
    Clock::time_point last_report_;
    std::uint64_t last_count_ = 0;
};

RunResult run_to_stream(const Settings& s, EventSimulator& simulator, std::ostream& sink,
                        std::ostream& err) {
    Pacer pacer(s, err);
    std::uint64_t produced = 0;
    for (;;) {
        auto now = Clock::now();
        if (pacer.done(produced, now)) {
            break;
        }
        if (const auto wait = pacer.wait_for(produced, now); wait > Clock::duration::zero()) {
            std::this_thread::sleep_for(
                std::min<Clock::duration>(wait, std::chrono::milliseconds(100)));
            continue;
        }
        const SimulatedRecord r = simulator.next(now - pacer.start());
        if (r.key) {
            sink << *r.key;
        }
        sink << '\t' << r.value << '\n';
        ++produced;
        pacer.progress(produced, produced, 0, now);
    }
    sink.flush();
    RunResult result;
    result.elapsed = Clock::now() - pacer.start();
    if (!sink) {
        result.failures = produced;
        result.failure = "writing the records failed";
    } else {
        result.sent = produced;
    }
    return result;
}

// Produces one record; true when librdkafka took it. Waits while the local
// queue is full, serving delivery reports meanwhile.
bool produce(rd_kafka_t* rk, const std::string& topic, const SimulatedRecord& r,
             std::string& error) {
    std::array<rd_kafka_vu_t, 5> vus{};
    std::size_t n = 0;
    vus.at(n).vtype = RD_KAFKA_VTYPE_TOPIC;
    vus.at(n++).u.cstr = topic.c_str();
    vus.at(n).vtype = RD_KAFKA_VTYPE_PARTITION;
    vus.at(n++).u.i32 = r.partition.value_or(RD_KAFKA_PARTITION_UA);
    if (r.key) {
        vus.at(n).vtype = RD_KAFKA_VTYPE_KEY;
        vus.at(n).u.mem.ptr = const_cast<char*>(r.key->data());
        vus.at(n++).u.mem.size = r.key->size();
    }
    vus.at(n).vtype = RD_KAFKA_VTYPE_VALUE;
    vus.at(n).u.mem.ptr = const_cast<char*>(r.value.data());
    vus.at(n++).u.mem.size = r.value.size();
    vus.at(n).vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus.at(n++).u.i32 = RD_KAFKA_MSG_F_COPY;
    for (;;) {
        auto failure = kafka::KafkaError::from(rd_kafka_produceva(rk, vus.data(), n));
        if (!failure) {
            return true;
        }
        if (failure->code == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 50);
            continue;
        }
        error = failure->describe();
        return false;
    }
}

RunResult run_to_kafka(const Settings& s, EventSimulator& simulator, rd_kafka_t* rk,
                       Deliveries& deliveries, std::ostream& err) {
    Pacer pacer(s, err);
    RunResult result;
    std::uint64_t produced = 0;
    std::uint64_t refused = 0;
    std::array<char, 512> fatal_text{};
    for (;;) {
        auto now = Clock::now();
        if (pacer.done(produced + refused, now)) {
            break;
        }
        if (rd_kafka_fatal_error(rk, fatal_text.data(), fatal_text.size()) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            result.fatal = true;
            result.failure = std::string("fatal producer error: ") + fatal_text.data();
            break;
        }
        if (const auto wait = pacer.wait_for(produced + refused, now);
            wait > Clock::duration::zero()) {
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::min<Clock::duration>(wait, std::chrono::milliseconds(100)));
            rd_kafka_poll(rk, static_cast<int>(std::max<std::int64_t>(ms.count(), 1)));
            continue;
        }
        const SimulatedRecord r = simulator.next(now - pacer.start());
        std::string error;
        if (produce(rk, s.topic, r, error)) {
            ++produced;
        } else {
            ++refused;
            if (result.failure.empty()) {
                result.failure = "produce refused: " + error;
            }
        }
        // Serving callbacks often keeps delivery reports from piling up.
        if (((produced + refused) & 0xffU) == 0) {
            rd_kafka_poll(rk, 0);
        }
        pacer.progress(produced + refused, deliveries.delivered, deliveries.failed + refused, now);
    }
    rd_kafka_flush(rk, static_cast<int>(std::chrono::milliseconds(kFlushTimeout).count()));
    const auto unflushed = static_cast<std::uint64_t>(std::max(rd_kafka_outq_len(rk), 0));
    result.elapsed = Clock::now() - pacer.start();
    result.sent = deliveries.delivered;
    // Whatever was accepted but never reported counts as failed: its fate is
    // unknown, and the exit status must say so.
    const std::uint64_t unreported =
        produced - std::min(produced, deliveries.delivered + deliveries.failed);
    result.failures = deliveries.failed + refused + unreported;
    if (result.failure.empty() && !deliveries.first_failure.empty()) {
        result.failure = "delivery failed: " + deliveries.first_failure;
    }
    if (result.failure.empty() && unreported > 0) {
        result.failure = std::to_string(unflushed) + " records still queued after " +
                         std::to_string(kFlushTimeout.count()) + " s flush timeout";
    }
    if (!result.fatal && rd_kafka_fatal_error(rk, fatal_text.data(), fatal_text.size()) !=
                             RD_KAFKA_RESP_ERR_NO_ERROR) {
        result.fatal = true;
        result.failure = std::string("fatal producer error: ") + fatal_text.data();
    }
    result.by_partition = deliveries.by_partition;
    return result;
}

std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (static_cast<unsigned char>(c) < 0x20) {
            std::array<char, 8> buf{};
            std::snprintf(buf.data(), buf.size(), "\\u%04x", static_cast<unsigned>(c));
            out.append(buf.data());
        } else {
            out.push_back(c);
        }
    }
    out.push_back('"');
    return out;
}

std::string seed_hex(std::uint64_t seed) {
    std::array<char, 24> buf{};
    std::snprintf(buf.data(), buf.size(), "0x%016llx", static_cast<unsigned long long>(seed));
    return buf.data();
}

double per_second(std::uint64_t n, std::chrono::duration<double> elapsed) {
    return elapsed.count() > 0 ? static_cast<double>(n) / elapsed.count() : 0.0;
}

void write_summary(std::ostream& out, const Settings& s, const SimulatorTally& t,
                   const RunResult& r, int partitions) {
    const auto& opt = s.generator;
    out << "etld simulate: "
        << (s.output ? "wrote to " + (*s.output == "-" ? std::string("stdout") : *s.output)
                     : "topic " + s.topic + " (" + std::to_string(partitions) + " partitions)")
        << ", seed " << opt.seed << " (" << seed_hex(opt.seed) << "), key " << to_string(opt.key)
        << "\n";
    out << "  sent                " << r.sent << " of " << t.records << " records\n";
    out << "  distinct events     " << t.distinct << "\n";
    out << "  duplicates          " << t.duplicates << " (" << t.duplicates_other_partition
        << " to another partition)\n";
    out << "  late                " << t.late << " (at least " << conf::format_duration(opt.late_by)
        << " behind the stream)\n";
    out << "  malformed           " << t.malformed_total();
    for (std::size_t k = 0; k < kMalformedKindCount; ++k) {
        out << (k == 0 ? " (" : ", ") << to_string(static_cast<MalformedKind>(k)) << " "
            << t.malformed.at(k);
    }
    out << ")\n";
    out << "  delivery failures   " << r.failures << "\n";
    out << "  events by type     ";
    for (std::size_t k = 0; k < kEventTypeCount; ++k) {
        out << " " << to_string(static_cast<EventType>(k)) << " " << t.distinct_by_type.at(k);
    }
    out << "\n";
    if (t.min_event_time && t.max_event_time) {
        out << "  event time          " << format_timestamp(*t.min_event_time) << " .. "
            << format_timestamp(*t.max_event_time) << "\n";
    }
    out << "  elapsed             " << std::fixed << std::setprecision(3) << r.elapsed.count()
        << " s\n";
    out << "  events/s            " << std::setprecision(0) << per_second(r.sent, r.elapsed) << "\n"
        << std::defaultfloat;
}

std::string summary_json(const Settings& s, const SimulatorTally& t, const RunResult& r,
                         int partitions) {
    std::ostringstream j;
    j << "{\n";
    j << "  \"target\": " << json_string(s.output ? "file:" + *s.output : "kafka:" + s.topic)
      << ",\n";
    j << "  \"topic\": " << json_string(s.topic) << ",\n";
    j << "  \"partitions\": " << partitions << ",\n";
    // As a string: a 64-bit seed does not survive JSON readers that use doubles.
    j << "  \"seed\": \"" << s.generator.seed << "\",\n";
    j << "  \"key\": " << json_string(to_string(s.generator.key)) << ",\n";
    j << "  \"generated\": " << t.records << ",\n";
    j << "  \"sent\": " << r.sent << ",\n";
    j << "  \"delivery_failures\": " << r.failures << ",\n";
    j << "  \"distinct_events\": " << t.distinct << ",\n";
    j << "  \"duplicates\": " << t.duplicates << ",\n";
    j << "  \"duplicates_other_partition\": " << t.duplicates_other_partition << ",\n";
    j << "  \"late\": " << t.late << ",\n";
    j << "  \"malformed\": {\"total\": " << t.malformed_total();
    for (std::size_t k = 0; k < kMalformedKindCount; ++k) {
        j << ", " << json_string(to_string(static_cast<MalformedKind>(k))) << ": "
          << t.malformed.at(k);
    }
    j << "},\n";
    j << "  \"events_by_type\": {";
    for (std::size_t k = 0; k < kEventTypeCount; ++k) {
        j << (k == 0 ? "" : ", ") << json_string(to_string(static_cast<EventType>(k))) << ": "
          << t.distinct_by_type.at(k);
    }
    j << "},\n";
    j << "  \"sent_by_partition\": [";
    for (std::size_t p = 0; p < r.by_partition.size(); ++p) {
        j << (p == 0 ? "" : ", ") << r.by_partition.at(p);
    }
    j << "],\n";
    j << "  \"first_event_time\": "
      << (t.min_event_time ? json_string(format_timestamp(*t.min_event_time)) : "null") << ",\n";
    j << "  \"last_event_time\": "
      << (t.max_event_time ? json_string(format_timestamp(*t.max_event_time)) : "null") << ",\n";
    j << std::fixed << std::setprecision(3);
    j << "  \"elapsed_s\": " << r.elapsed.count() << ",\n";
    j << std::setprecision(1);
    j << "  \"events_per_s\": " << per_second(r.sent, r.elapsed) << "\n";
    j << "}\n";
    return j.str();
}

kafka::Properties producer_properties(const Settings& s) {
    const bool idempotent = s.acks == "all" || s.acks == "-1";
    kafka::Properties p{
        {"bootstrap.servers", s.bootstrap},
        {"client.id", "etld-simulate"},
        {"acks", s.acks},
        {"enable.idempotence", idempotent ? "true" : "false"},
        // Throughput: let batches fill for a few milliseconds and compress
        // them; JSON events shrink well.
        {"linger.ms", "20"},
        {"batch.num.messages", "10000"},
        {"compression.type", "lz4"},
        {"queue.buffering.max.messages", "1000000"},
        // A record not acknowledged within a minute is reported as failed
        // rather than retried for librdkafka's default five minutes.
        {"message.timeout.ms", "60000"},
    };
    p.insert(p.end(), s.extra_properties.begin(), s.extra_properties.end());
    return p;
}

}  // namespace

int simulate_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    Settings settings;
    try {
        settings = parse_settings(args);
    } catch (const UsageError& e) {
        err << "etld simulate: " << e.message << "\n(see etld simulate --help)\n";
        return kSimExitUsage;
    }
    if (settings.help) {
        out << kUsage;
        return kSimExitOk;
    }
    if (!settings.seed_given) {
        std::random_device device;
        settings.generator.seed =
            (static_cast<std::uint64_t>(device()) << 32U) | static_cast<std::uint64_t>(device());
    }
    if (settings.start_now) {
        settings.generator.event_time_start =
            std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
    }

    // With records on stdout, the summary must not be mixed into them.
    std::ostream& report = settings.output && *settings.output == "-" ? err : out;
    RunResult result;
    int partitions = 0;
    std::unique_ptr<EventSimulator> simulator;

    if (settings.output) {
        simulator = std::make_unique<EventSimulator>(settings.generator);
        if (*settings.output == "-") {
            result = run_to_stream(settings, *simulator, out, err);
        } else {
            std::ofstream file(*settings.output, std::ios::binary | std::ios::trunc);
            if (!file) {
                err << "etld simulate: cannot open " << *settings.output << " for writing\n";
                return kSimExitCannotCreate;
            }
            result = run_to_stream(settings, *simulator, file, err);
        }
    } else {
        Deliveries deliveries;
        kafka::KafkaPtr producer;
        try {
            producer = make_reporting_producer(producer_properties(settings), deliveries);
        } catch (const kafka::ClientConfigError& e) {
            // A property given with -X (or a bad --acks/--bootstrap) was rejected.
            err << "etld simulate: " << e.what() << "\n";
            return kSimExitUsage;
        } catch (const std::runtime_error& e) {
            err << "etld simulate: " << e.what() << "\n";
            return kSimExitSoftware;
        }
        kafka::PartitionCount count = kafka::topic_partition_count(
            producer.get(), settings.topic,
            std::chrono::duration_cast<std::chrono::milliseconds>(kMetadataTimeout));
        if (!count.error && !count.partitions && settings.create_partitions > 0) {
            const auto created = kafka::create_topics(
                producer.get(), {{settings.topic, settings.create_partitions, 1, {}}},
                std::chrono::seconds(30));
            if (created.empty() || created[0].error) {
                err << "etld simulate: cannot create topic '" << settings.topic
                    << "': " << (created.empty() ? "no answer" : created[0].error->describe())
                    << "\n";
                return kSimExitUnavailable;
            }
            for (int attempt = 0; attempt < 100 && !count.partitions && !count.error; ++attempt) {
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                count = kafka::topic_partition_count(producer.get(), settings.topic,
                                                     std::chrono::seconds(5));
            }
        }
        if (count.error) {
            err << "etld simulate: cannot reach the broker at " << settings.bootstrap << ": "
                << count.error->describe()
                << (deliveries.last_error.empty() ? "" : " (" + deliveries.last_error + ")")
                << "\n";
            return kSimExitUnavailable;
        }
        if (!count.partitions || *count.partitions <= 0) {
            err << "etld simulate: topic '" << settings.topic << "' does not exist on "
                << settings.bootstrap << " (create it first, or pass --create-topic PARTITIONS)\n";
            return kSimExitUnavailable;
        }
        partitions = *count.partitions;
        deliveries.by_partition.assign(static_cast<std::size_t>(partitions), 0);
        settings.generator.partitions = partitions;
        simulator = std::make_unique<EventSimulator>(settings.generator);
        result = run_to_kafka(settings, *simulator, producer.get(), deliveries, err);
    }

    write_summary(report, settings, simulator->tally(), result, partitions);
    int status = kSimExitOk;
    if (result.fatal) {
        err << "etld simulate: " << result.failure << "\n";
        status = kSimExitSoftware;
    } else if (result.failures > 0) {
        err << "etld simulate: " << result.failures << " of " << simulator->tally().records
            << " records not delivered; first: " << result.failure << "\n";
        status = settings.output ? kSimExitCannotCreate : kSimExitUnavailable;
    }
    if (settings.summary_json) {
        std::ofstream json(*settings.summary_json, std::ios::trunc);
        json << summary_json(settings, simulator->tally(), result, partitions);
        json.flush();
        if (!json) {
            err << "etld simulate: cannot write " << *settings.summary_json << "\n";
            return status == kSimExitOk ? kSimExitCannotCreate : status;
        }
    }
    return status;
}

}  // namespace etld::daemon
