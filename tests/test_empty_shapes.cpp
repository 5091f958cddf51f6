#include "empty_shapes_runner.h"

namespace normrt {
namespace {

TEST(EmptyShapes, EveryOpAnswersWithAnEmptyResultOrARefusal) { testing::run_empty_shapes(Device::cpu()); }

}  // namespace
}  // namespace normrt
