// CSV tables for tabular data: one header line, numeric cells, comma separated.
// Every error names the file and the line: "train.csv:7: expected 3 fields, got 2".
#pragma once
#include <string>
#include <vector>

#include "autodiff/tensor.hpp"

namespace cli {

struct Table {
    std::string path;
    std::vector<std::string> columns;
    ad::Tensor values;  ///< [n_rows, n_columns]
    std::vector<long> lines;  ///< file line of each row (for messages)
    long header_line = 1;     ///< file line of the header (for messages about columns)

    long n_rows() const { return values.dim(0); }
    /// Index of a column; throws "<path>:<header line>: no column 'y' (columns: x, z)".
    long column(const std::string& name) const;
    /// The named columns as [n_rows, names.size()].
    ad::Tensor select(const std::vector<std::string>& names) const;
    /// Column `name` as class labels in [0, n_classes) (n_classes <= 0: any label >= 0);
    /// throws "<path>:<line>: expected an integer class label ..." naming the first bad row.
    std::vector<long> labels(const std::string& name, long n_classes = 0) const;
};

/// Features and targets of a table, as the tabular models take them.
struct Split {
    ad::Tensor x;              ///< [n, d] features
    ad::Tensor y;              ///< [n, t] targets (regression); undefined for classification
    std::vector<long> labels;  ///< [n] class labels (classification)
    long n() const { return x.dim(0); }
};

/// The `features` columns as x and the `targets` columns as y (regression), or the one target
/// column as labels in [0, n_classes) (classification). A missing column throws naming it.
Split take_columns(const Table& t, const std::vector<std::string>& features, const std::vector<std::string>& targets,
                   bool classification, long n_classes);

/// Reads a CSV file. Rejects an empty file, a header without data rows, ragged rows, cells
/// that are not finite numbers and duplicate column names. A UTF-8 byte order mark is skipped.
Table read_csv(const std::string& path);

/// Writes a CSV (header + rows) to path.tmp, then renames it over path.
void write_csv(const std::string& path, const std::vector<std::string>& columns,
               const std::vector<std::vector<double>>& rows);

/// Splits a line at commas, trimming spaces and a trailing '\r'.
std::vector<std::string> split_csv_line(const std::string& line);

}  // namespace cli
