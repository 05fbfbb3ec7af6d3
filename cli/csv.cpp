#include "cli/csv.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "cli/files.hpp"

namespace cli {

long Table::column(const std::string& name) const {
    for (size_t k = 0; k < columns.size(); ++k)
        if (columns[k] == name) return static_cast<long>(k);
    std::ostringstream os;
    for (size_t k = 0; k < columns.size(); ++k) os << (k ? ", " : "") << columns[k];
    AD_FAIL(path << ":" << header_line << ": no column '" << name << "' (columns: " << os.str() << ")");
}

ad::Tensor Table::select(const std::vector<std::string>& names) const {
    std::vector<long> idx;
    for (const auto& n : names) idx.push_back(column(n));
    const long rows = n_rows(), nc = static_cast<long>(columns.size()), m = static_cast<long>(idx.size());
    ad::Tensor out = ad::Tensor::empty({rows, m});
    for (long r = 0; r < rows; ++r)
        for (long j = 0; j < m; ++j) out.data()[r * m + j] = values.data()[r * nc + idx[j]];
    return out;
}

std::vector<long> Table::labels(const std::string& name, long n_classes) const {
    const long c = column(name), nc = static_cast<long>(columns.size());
    std::vector<long> out(static_cast<size_t>(n_rows()));
    for (long r = 0; r < n_rows(); ++r) {
        double v = values.data()[r * nc + c];
        bool ok = v >= 0 && std::floor(v) == v && (n_classes <= 0 || v < static_cast<double>(n_classes));
        if (!ok) {
            if (n_classes > 0)
                AD_FAIL(path << ":" << lines[r] << ": expected an integer class label in [0, " << n_classes
                             << ") in column '" << name << "', got " << v);
            AD_FAIL(path << ":" << lines[r] << ": expected an integer class label >= 0 in column '" << name
                         << "', got " << v);
        }
        out[r] = static_cast<long>(v);
    }
    return out;
}

std::vector<std::string> split_csv_line(const std::string& line) {
    std::vector<std::string> fields;
    std::string cur;
    auto flush = [&]() {
        size_t b = cur.find_first_not_of(" \t\r");
        size_t e = cur.find_last_not_of(" \t\r");
        fields.push_back(b == std::string::npos ? "" : cur.substr(b, e - b + 1));
        cur.clear();
    };
    for (char ch : line) {
        if (ch == ',')
            flush();
        else
            cur += ch;
    }
    flush();
    return fields;
}

Table read_csv(const std::string& path) {
    std::ifstream in(path);
    AD_CHECK(in.good(), path << ": cannot open the file (does it exist?)");
    Table t;
    t.path = path;
    std::string line;
    long line_no = 0;
    // header: the first non-blank line
    while (std::getline(in, line)) {
        ++line_no;
        if (line_no == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // UTF-8 byte order mark
        if (line.find_first_not_of(" \t\r") != std::string::npos) break;
        line.clear();
    }
    AD_CHECK(!line.empty() && line.find_first_not_of(" \t\r") != std::string::npos,
             path << ":" << std::max(line_no, 1L) << ": expected a header line, the file is empty");
    t.header_line = line_no;
    t.columns = split_csv_line(line);
    for (size_t k = 0; k < t.columns.size(); ++k) {
        AD_CHECK(!t.columns[k].empty(), path << ":" << line_no << ": expected a column name in field " << k + 1
                                             << " of the header, got an empty one");
        for (size_t j = 0; j < k; ++j)
            AD_CHECK(t.columns[j] != t.columns[k], path << ":" << line_no << ": column '" << t.columns[k]
                                                        << "' appears twice in the header");
    }
    const size_t nc = t.columns.size();
    std::vector<double> values;
    long n_rows = 0;
    while (std::getline(in, line)) {
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank lines
        std::vector<std::string> fields = split_csv_line(line);
        AD_CHECK(fields.size() == nc,
                 path << ":" << line_no << ": expected " << nc << " fields, got " << fields.size());
        for (size_t k = 0; k < nc; ++k) {
            const std::string& f = fields[k];
            char* end = nullptr;
            double v = f.empty() ? 0.0 : std::strtod(f.c_str(), &end);
            AD_CHECK(!f.empty() && end == f.c_str() + f.size(),
                     path << ":" << line_no << ": expected a number in column '" << t.columns[k] << "', got '" << f
                          << "'");
            AD_CHECK(std::isfinite(v), path << ":" << line_no << ": expected a finite number in column '"
                                            << t.columns[k] << "', got '" << f << "'");
            values.push_back(v);
        }
        ++n_rows;
        t.lines.push_back(line_no);
    }
    AD_CHECK(!in.bad(), path << ": read error after line " << line_no);
    AD_CHECK(n_rows > 0, path << ":" << t.header_line << ": expected at least one data row after the header, got none");
    t.values = ad::tensor({n_rows, static_cast<long>(nc)}, values);
    return t;
}

void write_csv(const std::string& path, const std::vector<std::string>& columns,
               const std::vector<std::vector<double>>& rows) {
    std::ostringstream os;
    for (size_t k = 0; k < columns.size(); ++k) os << (k ? "," : "") << columns[k];
    os << "\n";
    char buf[64];
    for (const auto& row : rows) {
        for (size_t k = 0; k < row.size(); ++k) {
            std::snprintf(buf, sizeof buf, "%.10g", row[k]);
            os << (k ? "," : "") << buf;
        }
        os << "\n";
    }
    write_file_atomic(path, os.str());
}

Split take_columns(const Table& t, const std::vector<std::string>& features, const std::vector<std::string>& targets,
                   bool classification, long n_classes) {
    Split s;
    s.x = t.select(features);
    if (classification)
        s.labels = t.labels(targets.at(0), n_classes);
    else
        s.y = t.select(targets);
    return s;
}

}  // namespace cli
