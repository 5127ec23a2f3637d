#include "test/bench/load_generator.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "pipeline/kafka/admin.h"
#include "pipeline/kafka/client.h"

namespace etld::bench {

namespace kafka = etld::pipeline::kafka;

namespace {

constexpr std::array<const char*, 4> kTypes{"view", "add_to_cart", "purchase", "remove_from_cart"};
constexpr std::array<const char*, 5> kProducts{"laptop", "mouse", "keyboard", "monitor",
                                               "headphones"};

void append_unsigned(std::string& out, std::uint64_t n, int min_digits = 1) {
    std::array<char, 20> digits{};
    int count = 0;
    do {
        digits.at(static_cast<std::size_t>(count++)) = static_cast<char>('0' + n % 10);
        n /= 10;
    } while (n != 0 || count < min_digits);
    while (count > 0) {
        out.push_back(digits.at(static_cast<std::size_t>(--count)));
    }
}

// The producer settings every benchmark client shares with etld's runner
// defaults (pipeline/kafka/README.md), so the clients differ in what they do,
// not in how they batch.
kafka::Properties producer_properties(const std::string& bootstrap) {
    return {{"bootstrap.servers", bootstrap},
            {"enable.idempotence", "true"},
            {"acks", "all"},
            {"linger.ms", "5"},
            {"batch.num.messages", "10000"},
            {"compression.codec", "lz4"},
            {"queue.buffering.max.messages", "1000000"}};
}

void produce_one(rd_kafka_t* producer, rd_kafka_topic_t* rkt, const LoadRecord& r) {
    while (true) {
        const rd_kafka_resp_err_t err = produce_copy(producer, rkt, r.partition, r.key, r.value);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            return;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            throw std::runtime_error(std::string("produce: ") + rd_kafka_err2str(err));
        }
        rd_kafka_poll(producer, 5);
    }
}

std::atomic<std::uint64_t> g_delivery_failures{0};

void on_delivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* /*opaque*/) {
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        g_delivery_failures++;
    }
}

kafka::KafkaPtr load_producer(const std::string& bootstrap) {
    kafka::ConfPtr conf = kafka::make_conf(producer_properties(bootstrap));
    rd_kafka_conf_set_dr_msg_cb(conf.get(), &on_delivery);
    std::array<char, 512> error{};
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), error.data(), error.size());
    if (rk == nullptr) {
        throw std::runtime_error(std::string("producer: ") + error.data());
    }
    (void)conf.release();
    return kafka::KafkaPtr(rk);
}

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

void finish(rd_kafka_t* producer) {
    if (rd_kafka_flush(producer, 120000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw std::runtime_error("load: flush timed out");
    }
    if (g_delivery_failures.load() != 0) {
        throw std::runtime_error("load: " + std::to_string(g_delivery_failures.load()) +
                                 " records were not delivered");
    }
}

}  // namespace

rd_kafka_resp_err_t produce_copy(rd_kafka_t* producer, rd_kafka_topic_t* rkt, int partition,
                                 std::string_view key, std::string_view value) {
    std::array<rd_kafka_vu_t, 5> vus{};
    vus[0].vtype = RD_KAFKA_VTYPE_RKT;
    vus[0].u.rkt = rkt;
    vus[1].vtype = RD_KAFKA_VTYPE_PARTITION;
    vus[1].u.i32 = partition;
    vus[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[2].u.i32 = RD_KAFKA_MSG_F_COPY;
    vus[3].vtype = RD_KAFKA_VTYPE_KEY;
    vus[3].u.mem.ptr = const_cast<char*>(key.data());
    vus[3].u.mem.size = key.size();
    vus[4].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[4].u.mem.ptr = const_cast<char*>(value.data());
    vus[4].u.mem.size = value.size();
    rd_kafka_error_t* error = rd_kafka_produceva(producer, vus.data(), vus.size());
    if (error == nullptr) {
        return RD_KAFKA_RESP_ERR_NO_ERROR;
    }
    const rd_kafka_resp_err_t code = rd_kafka_error_code(error);
    rd_kafka_error_destroy(error);
    return code;
}

LoadGenerator::LoadGenerator(const LoadOptions& options)
    : options_(options), random_(options.seed) {}

std::int64_t LoadGenerator::preload_time(std::uint64_t i) const {
    return options_.start_ms +
           static_cast<std::int64_t>(static_cast<double>(i) * 1000.0 / options_.events_per_second);
}

const LoadRecord& LoadGenerator::next(std::int64_t event_time_ms) {
    ++produced_;
    if (recent_count_ > 0 && options_.duplicate_rate > 0 &&
        random_.unit() < options_.duplicate_rate) {
        ++duplicates_;
        return recent_[random_.below(recent_count_)];
    }
    LoadRecord& r = recent_[fresh_ % kRecent];
    recent_count_ = std::min(recent_count_ + 1, kRecent);
    const std::uint64_t user =
        options_.keys_in_order ? fresh_ % options_.keys : random_.below(options_.keys);
    const std::int64_t jitter = options_.disorder_ms > 0
                                    ? static_cast<std::int64_t>(random_.below(
                                          static_cast<std::uint64_t>(options_.disorder_ms) + 1))
                                    : 0;
    const std::size_t type = random_.below(kTypes.size());
    const std::size_t product = random_.below(kProducts.size());
    const std::uint64_t cents = 500 + random_.below(200'000);
    const std::uint64_t quantity = 1 + random_.below(5);

    r.key.assign("user_");
    append_unsigned(r.key, user);
    r.partition = daemon::murmur2_partition(r.key, options_.partitions);
    r.value.clear();
    r.value.append("{\"event_id\":\"");
    r.value.append(daemon::event_id(options_.seed, fresh_));
    r.value.append("\",\"timestamp\":\"");
    r.value.append(daemon::format_timestamp(
        daemon::SimTime(std::chrono::milliseconds(event_time_ms - jitter))));
    r.value.append("\",\"user_id\":\"");
    r.value.append(r.key);
    r.value.append("\",\"event_type\":\"");
    r.value.append(kTypes.at(type));
    r.value.append("\",\"product\":\"");
    r.value.append(kProducts.at(product));
    r.value.append("\",\"price\":");
    append_unsigned(r.value, cents / 100);
    r.value.push_back('.');
    append_unsigned(r.value, cents % 100, 2);
    r.value.append(",\"quantity\":");
    append_unsigned(r.value, quantity);
    r.value.push_back('}');
    ++fresh_;
    return r;
}

void create_topic(const std::string& bootstrap, const std::string& topic, int partitions) {
    kafka::KafkaPtr admin = kafka::make_admin({{"bootstrap.servers", bootstrap}});
    const auto created =
        kafka::create_topics(admin.get(), {{topic, partitions, 1, {}}}, std::chrono::seconds(30));
    if (created.empty() || created[0].error) {
        throw std::runtime_error("cannot create topic " + topic + ": " +
                                 (created.empty() ? "no answer" : created[0].error->describe()));
    }
    if (!created[0].created) {
        throw std::runtime_error("topic " + topic + " exists already");
    }
}

LoadReport preload(const std::string& bootstrap, const std::string& topic,
                   const LoadOptions& options) {
    create_topic(bootstrap, topic, options.partitions);
    kafka::KafkaPtr producer = load_producer(bootstrap);
    kafka::TopicPtr rkt(rd_kafka_topic_new(producer.get(), topic.c_str(), nullptr));
    LoadGenerator gen(options);
    LoadReport report;
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t i = 0; i < options.events; ++i) {
        const LoadRecord& r = gen.next(gen.preload_time(i));
        produce_one(producer.get(), rkt.get(), r);
        report.bytes += r.value.size() + r.key.size();
        if (i % 1024 == 0) {
            rd_kafka_poll(producer.get(), 0);
        }
    }
    finish(producer.get());
    report.seconds = seconds_since(start);
    report.records = options.events;
    return report;
}

LoadReport produce_steady(const std::string& bootstrap, const std::string& topic,
                          const LoadOptions& options, double rate, const std::atomic<bool>& stop) {
    kafka::KafkaPtr producer = load_producer(bootstrap);
    kafka::TopicPtr rkt(rd_kafka_topic_new(producer.get(), topic.c_str(), nullptr));
    LoadGenerator gen(options);
    LoadReport report;
    const auto start = std::chrono::steady_clock::now();
    std::uint64_t sent = 0;
    while (!stop) {
        // Send what is due, in slices of 1 ms.
        const auto due = static_cast<std::uint64_t>(seconds_since(start) * rate);
        const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count();
        while (sent < due) {
            const LoadRecord& r = gen.next(now_ms);
            produce_one(producer.get(), rkt.get(), r);
            report.bytes += r.value.size() + r.key.size();
            ++sent;
        }
        rd_kafka_poll(producer.get(), 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    finish(producer.get());
    report.seconds = seconds_since(start);
    report.records = sent;
    return report;
}

}  // namespace etld::bench
