#pragma once
// Op tests parameterised by device (llama.cpp's test-backend-ops is the model). A test written as
// TEST_P over a suite derived from DeviceTest runs once per ops::available_devices(): its inputs go
// into that device's memory (put), the op runs on a context of that device, and its outputs come back
// (get) to be compared with double-precision references written in the test. A new backend is
// tested op by op as soon as it appears in the device list.
#include <gtest/gtest.h>

#include <span>
#include <string>
#include <vector>

#include "ops/ops.h"

namespace medenc::test {

class DeviceTest : public ::testing::TestWithParam<ops::Device> {
 protected:
  ops::Context ctx() const {
    ops::Context c;
    c.device = GetParam();
    return c;
  }
  // A device copy of host values.
  template <class T>
  ops::Buffer<T> put(const std::vector<T>& host) const {
    return ops::upload(ctx(), std::span<const T>(host));
  }
  // n device elements set to `value` (so a test can see what an op adds to, or leaves alone).
  template <class T>
  ops::Buffer<T> filled(int64_t n, T value) const {
    return put(std::vector<T>((size_t)n, value));
  }
  // A host copy of device values.
  template <class T>
  std::vector<T> get(const ops::Buffer<T>& device) const {
    return ops::download(ctx(), device);
  }
};

struct DeviceName {
  std::string operator()(const ::testing::TestParamInfo<ops::Device>& info) const {
    return ops::device_name(info.param);
  }
};

}  // namespace medenc::test

// Runs every TEST_P of `suite` on every available device.
#define MEDENC_TEST_ON_ALL_DEVICES(suite)                                                              \
  INSTANTIATE_TEST_SUITE_P(Devices, suite, ::testing::ValuesIn(::medenc::ops::available_devices()), \
                           ::medenc::test::DeviceName())
