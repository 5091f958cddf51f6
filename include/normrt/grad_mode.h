// Inference without gradient bookkeeping, as torch::NoGradGuard: while one is alive on a thread, modules' forward
// saves nothing for backward (no activation memory is held), and a backward after such a forward is refused.
// Running statistics of BatchNorm in training mode still update, as in PyTorch.
#pragma once

namespace normrt {

bool is_grad_enabled();

class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace normrt
