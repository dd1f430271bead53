// Tutorial 7: a small convolutional network learns the 8×8 handwritten digits.
//
//   images [N, 1, 8, 8] → conv2d, eight 3×3 kernels, padding 1, + bias → [N, 8, 8, 8]
//   → relu → max_pool2d 2×2 → [N, 8, 4, 4] → flatten → [N, 128]
//   → · W [128×10] + b → logits [N, 10] → cross_entropy with the labels
//
// Reads the 1,797 digits that Debian's python3-sklearn ships, checks the model's gradients
// against finite differences, trains it with Adam and shows what it learned: accuracy per
// epoch, a few test digits as ASCII art, the confusion matrix and the eight kernels.
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "tutorial.hpp"

using namespace gradlab;

namespace {

const char* const digits_file =
    "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz";
constexpr std::int64_t side = 8, pixels = side * side, classes = 10, channels = 8;
using Indices = std::vector<std::int64_t>;

struct Digits {
  std::vector<double> pixels;  // image i is pixels[64·i … 64·i + 63], row by row, 0–16
  Indices labels;              // the digit each image shows, 0–9
  std::int64_t count() const { return static_cast<std::int64_t>(labels.size()); }
};

// One line of the file: 64 pixel values 0–16, then the label 0–9, separated by commas.
void parse_line(const std::string& line, long line_number, Digits& into) {
  const std::string where = "digits.csv.gz line " + std::to_string(line_number) + ": ";
  std::vector<long> numbers;
  std::istringstream fields(line);
  for (std::string field; std::getline(fields, field, ',');) {
    const bool whole = !field.empty() && field.size() <= 3 &&
                       std::ranges::all_of(field, [](char c) { return c >= '0' && c <= '9'; });
    if (!whole)
      throw FormatError(where + "field " + std::to_string(numbers.size() + 1) + " is '" + field +
                        "', not a whole number from 0 to 16");
    numbers.push_back(std::stol(field));
  }
  if (numbers.size() != pixels + 1)
    throw FormatError(where + "expected 65 numbers (64 pixels, then the label), found " +
                      std::to_string(numbers.size()));
  if (std::any_of(numbers.begin(), numbers.end() - 1, [](long v) { return v > 16; }) ||
      numbers.back() >= classes)
    throw FormatError(where + "a pixel outside 0–16 or a label outside 0–9");
  into.pixels.insert(into.pixels.end(), numbers.begin(), numbers.end() - 1);
  into.labels.push_back(numbers.back());
}

Digits load_digits(const char* path) {
  const std::unique_ptr<gzFile_s, decltype(&gzclose)> file(gzopen(path, "rb"), &gzclose);
  if (!file) throw IOError(std::string("cannot open ") + path);
  Digits digits;
  std::string line;
  long line_number = 0;
  const auto check_stream = [&] {  // a damaged or cut-off file, rather than a short last line
    int status = Z_OK;
    const char* message = gzerror(file.get(), &status);
    if (status != Z_OK && status != Z_STREAM_END)
      throw IOError(std::string(message) + ", after line " + std::to_string(line_number));
  };
  char buffer[512];
  while (gzgets(file.get(), buffer, sizeof buffer)) {
    line += buffer;
    if (line.back() != '\n' && !gzeof(file.get())) continue;  // a long line comes in pieces
    if (line.back() != '\n') check_stream();
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    parse_line(line, ++line_number, digits);
    line.clear();
  }
  check_stream();
  return digits;
}

// Fisher–Yates: every order equally likely, and the same order for the same generator seed.
void shuffle(Indices& order, Generator& gen) {
  for (std::size_t i = order.size() - 1; i > 0; --i)
    std::swap(order[i], order[static_cast<std::size_t>(gen.uniform() * double(i + 1))]);
}

// The images listed in `which`, as a [N, 1, 8, 8] tensor with each pixel scaled to [0, 1].
Tensor images_of(const Digits& d, const Indices& which, DType dtype) {
  std::vector<double> values;
  for (const std::int64_t i : which)
    for (std::int64_t p = 0; p < pixels; ++p) values.push_back(d.pixels[i * pixels + p] / 16.0);
  return from_vector(values, {static_cast<std::int64_t>(which.size()), 1, side, side}, dtype);
}

Indices labels_of(const Digits& d, const Indices& which) {
  Indices labels;
  for (const std::int64_t i : which) labels.push_back(d.labels[i]);
  return labels;
}

// logits = flatten(max_pool(relu(conv(images, kernels) + kernel_bias))) · weight + bias
Tensor logits_of(const Tensor& images, const Tensor& kernels, const Tensor& kernel_bias,
                 const Tensor& weight, const Tensor& bias) {
  Tensor features;
  {
    cluster layer("convolution layer: 8 kernels of 3×3, relu, 2×2 max pooling");
    const Tensor maps = conv2d(images, kernels, kernel_bias, {.padding = 1}).name("feature maps");
    features = max_pool2d(relu(maps), 2).name("max-pooled");
  }
  cluster layer("linear layer: 128 features → 10 class scores");
  return (matmul(flatten(features), weight) + bias).name("logits");
}

struct Model {
  Tensor kernels, kernel_bias, weight, bias;
  std::vector<Tensor> parameters() const { return {kernels, kernel_bias, weight, bias}; }
  Tensor logits(const Tensor& images) const {
    return logits_of(images, kernels, kernel_bias, weight, bias);
  }
};

// He initialisation: weights ~ N(0, 2 / fan_in), fan_in = 9 pixels for a kernel and 128
// features for the linear layer. Before a relu it keeps the size of the signal from layer
// to layer; in the last layer it keeps the first class scores small.
// The kernel biases start at 0.1, not 0: on the blank background every pixel under a kernel
// is 0, so the convolution gives exactly its bias there, and a bias of 0 would put relu on
// its kink, where it has no derivative (gradcheck would list those biases as kinks).
Model make_model(Generator& gen, DType dtype) {
  const auto parameter = [](Tensor values, const char* name) {
    return values.set_requires_grad().name(name);
  };
  return {parameter(randn({channels, 1, 3, 3}, gen, dtype) * std::sqrt(2.0 / 9), "kernels"),
          parameter(full({channels}, 0.1, dtype), "kernel bias"),
          parameter(randn({128, classes}, gen, dtype) * std::sqrt(2.0 / 128), "W"),
          parameter(zeros({classes}, dtype), "b")};
}

// The class with the largest score in each row of logits [N, 10].
Indices predictions(const Tensor& logits) {
  const std::vector<double> v = logits.values();
  Indices best;
  for (std::int64_t row = 0; row < logits.size(0); ++row) {
    const auto first = v.begin() + row * classes;
    best.push_back(std::max_element(first, first + classes) - first);
  }
  return best;
}

double accuracy(const Model& model, const Digits& d, const Indices& which, DType dtype) {
  const no_grad plain;  // evaluation only: record no graph
  const Indices guess = predictions(model.logits(images_of(d, which, dtype)));
  std::int64_t right = 0;
  for (std::size_t k = 0; k < which.size(); ++k) right += guess[k] == d.labels[which[k]];
  return static_cast<double>(right) / static_cast<double>(which.size());
}

// Prints how many of `which` show each digit and returns the smallest of those counts.
std::int64_t print_per_digit(const char* what, const Digits& d, const Indices& which) {
  Indices count(classes, 0);
  for (const std::int64_t i : which) ++count[d.labels[i]];
  std::cout << what;
  for (std::int64_t c = 0; c < classes; ++c) std::cout << ' ' << c << ':' << count[c];
  std::cout << '\n';
  return *std::ranges::min_element(count);
}

// A diverging colour for a kernel weight: blue below 0, white at 0, red above, by |v| / limit.
std::string weight_colour(double v, double limit) {
  const int fade = static_cast<int>(std::lround(255 * (1 - std::min(1.0, std::abs(v) / limit))));
  char hex[8];
  if (v < 0)
    std::snprintf(hex, sizeof hex, "#%02x%02xff", fade, fade);
  else
    std::snprintf(hex, sizeof hex, "#ff%02x%02x", fade, fade);
  return hex;
}

// DOT text drawing each 3×3 kernel as a grid of coloured cells, all of them side by side.
std::string kernels_dot(const Tensor& kernels, const Tensor& kernel_bias) {
  const std::vector<double> w = kernels.values(), bias = kernel_bias.values();
  double limit = 0;
  for (const double v : w) limit = std::max(limit, std::abs(v));
  std::ostringstream dot;
  dot << std::fixed << std::setprecision(2);
  dot << "digraph digits_kernels {\n  graph [fontname=\"DejaVu Sans\", fontsize=13, labelloc=t, "
         "label=<<b>The eight learned 3×3 kernels</b><br/><font point-size=\"10\">"
         "blue &lt; 0 &lt; red, full colour at |w| = "
      << limit << "</font>>];\n";
  dot << "  node [shape=plaintext, fontname=\"DejaVu Sans\", fontsize=10];\n"
         "  kernels [label=<<table border=\"0\" cellspacing=\"10\"><tr>";
  for (std::int64_t k = 0; k < channels; ++k) {
    dot << "<td><table border=\"0\" cellborder=\"1\" cellspacing=\"0\" color=\"#999999\">";
    for (std::int64_t row = 0; row < 3; ++row) {
      dot << "<tr>";
      for (std::int64_t col = 0; col < 3; ++col)
        dot << "<td bgcolor=\"" << weight_colour(w[k * 9 + row * 3 + col], limit)
            << "\" width=\"26\" height=\"26\"></td>";
      dot << "</tr>";
    }
    dot << "<tr><td colspan=\"3\" border=\"0\">kernel " << k << "<br/>bias "
        << (bias[k] < 0 ? "−" : "") << std::abs(bias[k]) << "</td></tr></table></td>";
  }
  dot << "</tr></table>>];\n}\n";
  return dot.str();
}

// An 8×8 digit in characters, denser ones for darker ink, two per pixel to keep its shape.
std::vector<std::string> ascii_art(const Digits& d, std::int64_t image) {
  const std::string ink = " .:-=+*#%@";
  std::vector<std::string> rows(side);
  for (std::int64_t p = 0; p < pixels; ++p)
    rows[p / side] += std::string(2, ink[std::lround(d.pixels[image * pixels + p] * 9 / 16)]);
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  tutorial::Tutorial t(argc, argv, "7. Train a small CNN on handwritten digits",
                       "conv → relu → max-pool → linear, trained on 1,797 8×8 digits");
  using clock = std::chrono::steady_clock;
  const auto seconds_since = [](clock::time_point start) {
    return std::chrono::duration<double>(clock::now() - start).count();
  };
  const clock::time_point program_start = clock::now();

  t.section("The data: 1,797 digits of 8×8 pixels");
  if (!std::filesystem::exists(digits_file)) {
    std::cerr << "07_digits: " << digits_file << " is missing; install it with: "
              << "sudo apt-get install python3-sklearn\n";
    return 2;
  }
  Digits data;
  try {
    data = load_digits(digits_file);
  } catch (const Error& e) {
    std::cerr << "07_digits: " << e.what() << '\n';
    return 2;
  }
  Indices all(data.count());
  std::iota(all.begin(), all.end(), 0);
  std::cout << "read " << data.count() << " images from " << digits_file << '\n';
  t.claim(data.count() == 1797, "the file holds 1,797 images of 64 pixels each");
  t.claim(print_per_digit("images per digit:", data, all) >= 170,
          "all 10 digits are there, each at least 170 times");
  try {
    Digits scratch;
    parse_line("0,0,5,13,x,1", 7, scratch);
    t.claim(false, "a malformed line is rejected");
  } catch (const FormatError& e) {
    std::cout << "a malformed line is rejected: " << e.what() << '\n';
    t.claim(std::string(e.what()).find("line 7") != std::string::npos,
            "a malformed line is rejected with its line number");
  }

  t.section("A seeded shuffle, then 80% to train on and 20% to test with");
  Indices order = all;
  Generator split(7);
  shuffle(order, split);
  const std::int64_t train_count = data.count() * 4 / 5;
  const Indices train(order.begin(), order.begin() + train_count),
      test(order.begin() + train_count, order.end());
  std::cout << "training images: " << train.size() << ", test images: " << test.size() << '\n';
  t.claim(train.size() == 1437 && test.size() == 360, "1,797 images split as 1,437 + 360");
  t.claim(print_per_digit("test images per digit:", data, test) >= 25,
          "every digit has at least 25 test images");

  t.section("The model and its shapes");
  // float32: training needs no more than float32's 7 digits, and gradlab's float32 conv2d
  // has direct kernels (src/gradlab/kernels/conv_direct.hpp). float64 is for checking gradients, below.
  const DType dtype = DType::float32;
  Generator gen(42);
  const Model model = make_model(gen, dtype);
  const Indices two = {train[0], train[1]};
  const Tensor two_images = images_of(data, two, dtype).name("images");
  const Tensor logits_of_two = model.logits(two_images);
  const Tensor loss_of_two = cross_entropy(logits_of_two, labels_of(data, two));
  std::int64_t parameter_count = 0;
  for (const Tensor& p : model.parameters()) {
    parameter_count += p.numel();
    std::cout << std::setw(12) << p.name() << ' ' << to_string(p.shape()) << '\n';
  }
  std::cout << "parameters: " << parameter_count << "\nlogits of two images "
            << to_string(logits_of_two.shape()) << ", loss " << loss_of_two.item() << '\n';
  t.claim(parameter_count == 8 * 9 + 8 + 128 * 10 + 10, "8·9 + 8 + 128·10 + 10 = 1,370 parameters");
  t.claim(logits_of_two.shape() == Shape{2, 10}, "two images give two rows of 10 class scores");
  t.claim(std::abs(loss_of_two.item() - std::log(10.0)) < 1.0,
          "before training the loss is near ln 10 ≈ 2.30, a guess among 10 classes");
  t.diagram("digits_forward",
            to_dot({loss_of_two},
                   {.left_to_right = true, .title = "The digit network on a batch of two images"}));
  try {
    (void)conv2d(reshape(two_images, {2, 8, 8}), model.kernels, model.kernel_bias, {.padding = 1});
    t.claim(false, "conv2d rejects images without their channel axis");
  } catch (const ShapeError& e) {
    std::cout << "without the channel axis: " << e.what() << '\n';
    t.claim(true, "conv2d rejects images without their channel axis (a ShapeError)");
  }

  t.section("Checking the gradients before trusting them");
  // Four images, all 1,370 parameters, each moved by ±ε: 2,740 forward passes in float64.
  const Indices four(train.begin(), train.begin() + 4), four_labels = labels_of(data, four);
  const auto loss_of_four = [&](const std::vector<Tensor>& p) {
    const Tensor images = images_of(data, four, p[0].dtype());
    return cross_entropy(logits_of(images, p[0], p[1], p[2], p[3]), four_labels);
  };
  const GradcheckResult check = gradcheck(loss_of_four, model.parameters());
  std::cout << check.message << '\n';
  t.claim(check.ok && check.kinks.empty(),
          "backprop agrees with finite differences for every one of the 1,370 parameters");

  // Why float64 for the check: one difference quotient, for the centre of kernel 0, computed
  // in both dtypes with the same ε and compared with backprop's value.
  const Indices centre = {0, 0, 1, 1};
  const auto parameters_in = [&](DType d) {
    std::vector<Tensor> p;
    for (const Tensor& q : model.parameters()) p.push_back(to(q.detach(), d).set_requires_grad());
    return p;
  };
  const auto difference_quotient = [&](DType d, double eps) {
    const no_grad plain;
    std::vector<Tensor> p = parameters_in(d);
    const double w = p[0].at(centre);
    const auto loss_at = [&](double value) {
      p[0].set(centre, value);
      return loss_of_four(p).item();
    };
    return (loss_at(w + eps) - loss_at(w - eps)) / (2 * eps);
  };
  const std::vector<Tensor> p64 = parameters_in(DType::float64);
  const Tensor loss64 = loss_of_four(p64);
  const double backprop = grad({loss64}, {p64[0]})[0].at(centre);
  const double in64 = difference_quotient(DType::float64, 1e-6),
               in32 = difference_quotient(DType::float32, 1e-6);
  std::cout << std::setprecision(9) << "L = " << loss64.item()
            << ", ∂L/∂kernels[0, 0, 1, 1]: backprop " << backprop
            << "\n(L(w + ε) − L(w − ε)) / 2ε with ε = 1e-6: float64 " << in64 << ", float32 "
            << in32 << std::setprecision(6) << '\n';
  t.claim(std::abs(in32 - backprop) > 100 * std::abs(in64 - backprop),
          "in float32 the difference quotient is more than 100 times further off than in float64");

  t.section("Training");
  const int epochs = t.quick() ? 3 : 30;
  const std::size_t batch_size = 32;
  Adam optimizer(model.parameters(), 0.01);
  Generator batches(11);
  Indices train_order = train;
  std::vector<double> epoch_losses;
  double test_accuracy = 0;
  std::cout << "epoch   loss    train acc   test acc   time\n";
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    const clock::time_point start = clock::now();
    shuffle(train_order, batches);  // a fresh order of the batches every epoch
    double loss_sum = 0;
    for (std::size_t first = 0; first < train_order.size(); first += batch_size) {
      const Indices batch(train_order.begin() + first,
                          train_order.begin() + std::min(first + batch_size, train_order.size()));
      const Tensor loss =
          cross_entropy(model.logits(images_of(data, batch, dtype)), labels_of(data, batch));
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      loss_sum += loss.item() * double(batch.size());
    }
    epoch_losses.push_back(loss_sum / double(train_order.size()));
    const double train_accuracy = accuracy(model, data, train, dtype);
    test_accuracy = accuracy(model, data, test, dtype);
    std::cout << std::fixed << std::setw(5) << epoch << std::setprecision(4) << std::setw(9)
              << epoch_losses.back() << std::setprecision(1) << std::setw(10)
              << 100 * train_accuracy << '%' << std::setw(10) << 100 * test_accuracy << '%'
              << std::setprecision(2) << std::setw(7) << seconds_since(start) << " s\n"
              << std::defaultfloat;
  }
  t.claim(epoch_losses.back() < 0.5 * epoch_losses.front(),
          "the mean training loss fell to less than half of the first epoch's");
  t.claim(test_accuracy >= (t.quick() ? 0.80 : 0.95),
          t.quick() ? "test accuracy is at least 80% after 3 epochs (--quick)"
                    : "test accuracy is at least 95% after 30 epochs");

  t.section("What the network gets right and wrong");
  Indices guess;
  {
    const no_grad plain;
    guess = predictions(model.logits(images_of(data, test, dtype)));
  }
  Indices shown = {0, 1, 2, 3};  // the first four test images, then the first mistake
  for (std::size_t k = 0; k < test.size(); ++k)
    if (guess[k] != data.labels[test[k]]) {
      shown.push_back(static_cast<std::int64_t>(k));
      break;
    }
  std::vector<std::vector<std::string>> art;
  for (const std::int64_t k : shown) art.push_back(ascii_art(data, test[k]));
  for (std::int64_t row = 0; row < side; ++row) {
    for (const auto& picture : art) std::cout << '|' << picture[row] << "|  ";
    std::cout << '\n';
  }
  for (const std::int64_t k : shown)
    std::cout << " guess " << guess[k] << ", true " << data.labels[test[k]]
              << (guess[k] == data.labels[test[k]] ? "    " : " ✗  ");
  std::cout << "\n\nconfusion matrix (rows: the true digit, columns: the network's guess)\n     ";
  std::vector<Indices> confusion(classes, Indices(classes, 0));
  for (std::size_t k = 0; k < test.size(); ++k) ++confusion[data.labels[test[k]]][guess[k]];
  for (std::int64_t c = 0; c < classes; ++c) std::cout << std::setw(4) << c;
  for (std::int64_t r = 0; r < classes; ++r) {
    std::cout << '\n' << std::setw(4) << r << ' ';
    for (const std::int64_t n : confusion[r])
      std::cout << std::setw(4) << (n ? std::to_string(n) : ".");
  }
  std::cout << '\n';

  t.section("The learned kernels");
  t.diagram("digits_kernels", kernels_dot(model.kernels, model.kernel_bias), /*checked=*/false);
  std::cout << "total time " << std::fixed << std::setprecision(1) << seconds_since(program_start)
            << " s\n";
  return t.finish();
}
