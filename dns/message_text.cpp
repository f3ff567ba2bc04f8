// Messages, questions and records as dig prints them.
#include <pants/dns/message.hpp>

namespace pants::dns {

namespace {

// BIND's masterdump indent(): pad with tabs (width 8) up to `to`, and with
// at least one blank when the text already reached it.
void indent(std::string& out, std::size_t& column, std::size_t to) {
    if (to < column + 1) to = column + 1;
    const std::size_t tabs = to / 8 - column / 8;
    if (tabs > 0) {
        out.append(tabs, '\t');
        column = to / 8 * 8;
    }
    out.append(to - column, ' ');
    column = to;
}

void field(std::string& out, std::size_t& column, const std::string& text) {
    out += text;
    column += text.size();
}

// dig's one-line style: TTL at column 24, class at 32, type at 40, RDATA at 48.
constexpr std::size_t kTtlColumn = 24, kClassColumn = 32, kTypeColumn = 40, kRdataColumn = 48;

}  // namespace

std::string to_string(const ResourceRecord& rr) {
    std::string out;
    std::size_t column = 0;
    field(out, column, rr.name);
    indent(out, column, kTtlColumn);
    field(out, column, std::to_string(rr.ttl));
    indent(out, column, kClassColumn);
    field(out, column, class_to_string(rr.klass));
    indent(out, column, kTypeColumn);
    field(out, column, type_to_string(rr.type));
    indent(out, column, kRdataColumn);
    out += to_string(rr.data);
    return out;
}

std::string to_string(const Question& q) {
    std::string out;
    std::size_t column = 0;
    field(out, column, ";" + q.name);
    indent(out, column, kClassColumn);
    field(out, column, class_to_string(q.klass));
    indent(out, column, kTypeColumn);
    field(out, column, type_to_string(q.type));
    return out;
}

std::string to_string(const Message& m) {
    std::string out = ";; ->>HEADER<<- opcode: " + opcode_to_string(m.opcode) +
                      ", status: " + rcode_to_string(m.rcode) + ", id: " + std::to_string(m.id) + "\n;; flags:";
    const std::pair<bool, const char*> flags[] = {{m.qr, " qr"}, {m.aa, " aa"}, {m.tc, " tc"}, {m.rd, " rd"},
                                                  {m.ra, " ra"}, {m.ad, " ad"}, {m.cd, " cd"}};
    for (const auto& [set, name] : flags)
        if (set) out += name;
    out += "; QUERY: " + std::to_string(m.questions.size()) + ", ANSWER: " + std::to_string(m.answers.size()) +
           ", AUTHORITY: " + std::to_string(m.authority.size()) +
           ", ADDITIONAL: " + std::to_string(m.additional.size() + (m.edns ? 1 : 0)) + "\n";
    if (m.edns) {
        out += "\n;; OPT PSEUDOSECTION:\n; EDNS: version: " + std::to_string(m.edns->version) + ", flags:";
        if (m.edns->dnssec_ok) out += " do";
        out += "; udp: " + std::to_string(m.edns->udp_size) + "\n";
        for (const auto& option : m.edns->options)
            out += "; OPT=" + std::to_string(option.code) + ": " + to_string(Rdata{rdata::Raw{option.data}}) + "\n";
    }
    if (!m.questions.empty()) {
        out += "\n;; QUESTION SECTION:\n";
        for (const auto& q : m.questions) out += to_string(q) + "\n";
    }
    const std::pair<const char*, const std::vector<ResourceRecord>*> sections[] = {
        {"ANSWER", &m.answers}, {"AUTHORITY", &m.authority}, {"ADDITIONAL", &m.additional}};
    for (const auto& [title, records] : sections) {
        if (records->empty()) continue;
        out += std::string("\n;; ") + title + " SECTION:\n";
        for (const auto& rr : *records) out += to_string(rr) + "\n";
    }
    return out;
}

}  // namespace pants::dns
