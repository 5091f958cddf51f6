// The real-GPU suites' process setup: a test that CTest gave a GPU from the resource spec
// (CTEST_RESOURCE_GROUP_0_GPUS="id:2,slots:1") sees only that GPU, as device 0, so `ctest -L gpu -j N
// --resource-spec-file` spreads the tests over a multi-GPU runner. Runs before main, ahead of the first CUDA call.
#include <cstdlib>
#include <string>

namespace {

const bool kDeviceChosen = [] {
  const char* groups = std::getenv("CTEST_RESOURCE_GROUP_0_GPUS");
  if (groups == nullptr || std::getenv("CUDA_VISIBLE_DEVICES") != nullptr) return false;
  const std::string spec = groups;
  const auto id = spec.find("id:");
  if (id == std::string::npos) return false;
  const std::string device = spec.substr(id + 3, spec.find(',', id) - (id + 3));
  return setenv("CUDA_VISIBLE_DEVICES", device.c_str(), 1) == 0;
}();

}  // namespace
