# normrt in a CUDA 13 + cuDNN 9 image. No Docker engine runs on the build machines, so this file is not built in CI.
#
#   docker build --target build -t normrt:build .
#   docker run --rm --gpus all normrt:build ctest --test-dir /src/build -L gpu --output-on-failure \
#       --resource-spec-file /src/tests/resources.json
#   docker build -t normrt .            # runtime image: installed library, headers and examples
#   docker run --rm --gpus all normrt   # runs normrt-bn-demo
FROM nvidia/cuda:13.0.2-cudnn-devel-ubuntu24.04 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake libgtest-dev libbenchmark-dev libopenblas-dev zlib1g-dev libcli11-dev nlohmann-json3-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CUDA_ARCHITECTURES=80-real;90-real;100-real;120" \
 && cmake --build build -j "$(nproc)" \
 && cmake --install build --prefix /opt/normrt

FROM nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04 AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libgomp1 libopenblas0 zlib1g \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/normrt /opt/normrt
ENV PATH=/opt/normrt/bin:$PATH
CMD ["normrt-bn-demo"]
