# flannel-rs image: flanneld and the flannel CNI plugin, for a DaemonSet in place of upstream's.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends protobuf-compiler libprotobuf-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release -p flanneld -p flannel-cni

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends iptables iproute2 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/flanneld /opt/bin/flanneld
COPY --from=build /src/target/release/flannel /opt/cni/bin/flannel
ENTRYPOINT ["/opt/bin/flanneld"]
