// A vendor library normrt loads when first needed rather than links (libnccl for the NCCL backend, libcublasLt for
// the GPU GEMMs), so that programs which never use it neither need it installed nor pay for mapping it at start. Its
// functions come from the program itself when the program links the library (the probe symbol found through
// RTLD_DEFAULT), else from dlopen of the soname, which searches as a link-time dependency would (the program's
// RUNPATH, LD_LIBRARY_PATH, ld.so.cache) and, as one, makes the symbols global.
#pragma once
#include <dlfcn.h>

#include <string>
#include <utility>

#include "normrt/error.h"

namespace normrt::detail {

class RuntimeLibrary {
 public:
  // `package`: what to install when the library is missing ("NCCL", "cuBLAS").
  RuntimeLibrary(std::string soname, const char* probe, const char* package) : soname_(std::move(soname)) {
    // RTLD_DEFAULT is a null handle: whether it serves is told by the lookup.
    if (dlsym(RTLD_DEFAULT, probe) != nullptr) return;
    handle_ = dlopen(soname_.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (handle_ == nullptr) {
      const char* why = dlerror();
      failure_ = concat("cannot load ", soname_, " (", why != nullptr ? why : "not found", "): install ", package,
                        " or put its lib directory on LD_LIBRARY_PATH");
    }
  }

  // Fills `slot` with the function `name`; the first one missing (or a library that did not load) is the failure.
  template <typename Fn>
  void load(Fn*& slot, const char* name) {
    if (!failure_.empty()) return;
    slot = reinterpret_cast<Fn*>(dlsym(handle_, name));
    if (slot == nullptr) failure_ = concat(soname_, " lacks ", name);
  }

  // Empty when the library and every function asked for were found.
  const std::string& failure() const { return failure_; }

 private:
  std::string soname_;
  void* handle_ = RTLD_DEFAULT;
  std::string failure_;
};

}  // namespace normrt::detail
