// The library's CUDA kernel sources, compiled as plain C++ for the SIMT emulator (namespace ...::emu).
#include "simt.h"

#include "batchnorm.cu"
#include "elementwise.cu"
