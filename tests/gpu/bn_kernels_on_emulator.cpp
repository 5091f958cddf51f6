// The BatchNorm kernel cases on the SIMT emulator, for the GPU suite's comparison of the device's outputs with the
// emulator's (test_cuda_bn_kernels.cpp). Built as the emulator builds kernels (-DSIMT_EMU), in the GPU test binaries.
#include "bn_emulator_backend.h"
#include "bn_kernel_cases.h"

namespace normrt::testing {

// Runs case `k` on the emulator, each kernel when it is launched: an emulated device's asynchronous schedule, when
// one is installed, is set aside meanwhile.
void run_bn_kernel_case_on_emulator(const BnKernelCase& k, BnKernelOutputs& outputs) {
  struct ImmediateLaunches {
    simt::LaunchQueue saved = simt::launch_queue();
    ImmediateLaunches() { simt::set_launch_queue(nullptr); }
    ~ImmediateLaunches() { simt::set_launch_queue(saved); }
  } immediate;
  check_bn_kernel_case<bn::emu::EmulatorBackend>(k, &outputs);
}

}  // namespace normrt::testing
