// BatchNorm folding (nn::fold_batchnorm) against torch.fx.experimental.optimization.fuse and torch.nn.utils.fusion:
// tests/golden/make_golden_fold.py wrote data_fold/ with PyTorch 1.13. Beyond PyTorch's cases (grouped transposed
// convolutions, channels-last weights, Concat branches), the folded network must compute what the unfolded one did.
#include "fold_golden_runner.h"

namespace normrt {
namespace {

using testing::all_close;
using testing::throws_with;
using testing::to_double;

TEST(Fold, MatchesPyTorchsFusion) { testing::run_fold_golden(Device::cpu()); }
// Random BatchNorm statistics (means far from zero, small and large variances) and affine parameters.
void randomize_batch_norms(nn::Module& model, Generator& gen) {
  for (nn::Module* m : model.modules()) {
    auto* bn = dynamic_cast<nn::BatchNormBase*>(m);
    if (bn == nullptr) continue;
    const Shape c{bn->options().num_features()};
    bn->running_mean.copy_(randn(c, gen) * 4.0 + 30.0);
    bn->running_var.copy_(rand(c, gen) * 9.0 + 0.01);
    if (bn->weight.defined()) bn->weight.copy_(randn(c, gen));
    if (bn->bias.defined()) bn->bias.copy_(randn(c, gen) * 2.0);
  }
}

// The number of BatchNorms in a model.
int64_t batch_norms(nn::Module& model) {
  int64_t n = 0;
  for (nn::Module* m : model.modules()) n += dynamic_cast<nn::BatchNormBase*>(m) != nullptr;
  return n;
}

// The eval output of `model` and of its folding (`pairs` BatchNorms fewer), within float32 rounding of the output's
// scale. Returns the folded model.
std::shared_ptr<nn::Sequential> expect_folding_keeps_output(nn::Sequential& model, const Tensor& x, int64_t pairs,
                                                             const std::string& what) {
  model.eval();
  const std::vector<float> before = model.forward(x).to_vector();
  const auto folded = nn::fold_batchnorm(model);
  EXPECT_EQ(batch_norms(*folded), batch_norms(model) - pairs) << what;
  const std::vector<float> after = folded->forward(x).to_vector();
  double scale = 0;
  for (float v : before) scale = std::max(scale, std::fabs(static_cast<double>(v)));
  EXPECT_TRUE(all_close(after, to_double(before), 1e-5, 2e-6 * scale)) << what;
  return folded;
}

TEST(Fold, GroupedTransposedAndChannelsLastConvolutionsKeepTheirOutput) {
  Generator gen(34);
  for (int64_t groups : {1, 2, 3}) {
    for (bool channels_last : {false, true}) {
      const std::string what = "groups " + std::to_string(groups) + (channels_last ? " channels-last" : "");
      nn::Sequential t1(nn::ConvTranspose1d(nn::ConvTransposeOptions(6, 12, 3).stride(2).groups(groups)),
                        nn::BatchNorm1d(12));
      randomize_batch_norms(t1, gen);
      expect_folding_keeps_output(t1, randn({2, 6, 7}, gen), 1, "ConvTranspose1d " + what);

      nn::Sequential t2(
          nn::ConvTranspose2d(nn::ConvTransposeOptions(6, 3 * groups, {3, 2}).stride(2).groups(groups).bias(false)),
          nn::BatchNorm2d(nn::BatchNormOptions(3 * groups).relu(true)));
      randomize_batch_norms(t2, gen);
      if (channels_last) t2.to(MemoryFormat::ChannelsLast);
      Tensor x2 = randn({2, 6, 5, 3}, gen);
      if (channels_last) x2 = x2.to(MemoryFormat::ChannelsLast);
      const auto f2 = expect_folding_keeps_output(t2, x2, 1, "ConvTranspose2d " + what);
      EXPECT_EQ((*f2)[1].name(), "ReLU") << "the BatchNorm's own ReLU stays";
      EXPECT_EQ(f2->at<nn::ConvTranspose2d>(0).weight.memory_format(),
                channels_last ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous);

      nn::Sequential c3(nn::Conv3d(nn::ConvOptions(3 * groups, 6, 3).padding(1).dilation({1, 2, 1}).groups(groups)),
                        nn::BatchNorm3d(nn::BatchNormOptions(6).affine(false)), nn::ReLU(),
                        nn::ConvTranspose3d(nn::ConvTransposeOptions(6, 2 * groups, 2).stride(2).groups(groups)),
                        nn::BatchNorm3d(2 * groups));
      randomize_batch_norms(c3, gen);
      if (channels_last) c3.to(MemoryFormat::ChannelsLast3d);
      expect_folding_keeps_output(c3, randn({2, 3 * groups, 3, 5, 4}, gen), 2, "Conv3d " + what);
    }
  }
}

// Inception-style branches (a Concat) fold inside, and the module the folding shares with the model is the pooling.
TEST(Fold, ReachesConcatBranches) {
  Generator gen(35);
  auto pool = std::make_shared<nn::MaxPool2d>(nn::MaxPoolOptions(3).stride(1).padding(1));
  auto block = std::make_shared<nn::Concat>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Sequential>(nn::Conv2d(nn::ConvOptions(3, 2, 1).bias(false), &gen), nn::BatchNorm2d(2)),
      std::make_shared<nn::Sequential>(nn::Conv2d(nn::ConvOptions(3, 4, 3).padding(1), &gen),
                                       nn::BatchNorm2d(nn::BatchNormOptions(4).relu(true))),
      pool});
  nn::Sequential net(nn::Conv2d(nn::ConvOptions(3, 3, 1), &gen), nn::BatchNorm2d(3), block);
  randomize_batch_norms(net, gen);
  const auto folded = expect_folding_keeps_output(net, randn({2, 3, 6, 7}, gen) * 3.0 + 1.0, 3, "Concat");
  EXPECT_EQ(batch_norms(*folded), 0);
  const auto& folded_block = dynamic_cast<nn::Concat&>((*folded)[1]);
  EXPECT_EQ(folded_block.named_children()[2].second, pool);
  EXPECT_EQ(batch_norms(net), 3) << "the model is left as it was";
}

TEST(Fold, RefusesATransposedConvolutionsMismatchedBatchNorm) {
  nn::ConvTranspose2d conv(nn::ConvTransposeOptions(4, 6, 2).groups(2));
  nn::BatchNorm2d wrong(5);
  nn::BatchNorm1d other_rank(6);
  EXPECT_TRUE(throws_with([&] { nn::fold_conv_batchnorm(conv, wrong); },
                          "fold: BatchNorm2d(5) cannot follow a ConvTranspose2d with 6 outputs"));
  EXPECT_TRUE(throws_with([&] { nn::fold_conv_batchnorm(conv, other_rank); },
                          "fold: BatchNorm1d cannot follow a ConvTranspose2d"));
}

}  // namespace
}  // namespace normrt
