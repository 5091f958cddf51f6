// Umbrella header for the normrt public API.
#pragma once
#include "normrt/config.h"
#include "normrt/cuda.h"
#include "normrt/device.h"
#include "normrt/error.h"
#include "normrt/generator.h"
#include "normrt/nn/batchnorm.h"
#include "normrt/nn/module.h"
#include "normrt/npy.h"
#include "normrt/ops/batchnorm.h"
#include "normrt/ops/elementwise.h"
#include "normrt/tensor.h"
