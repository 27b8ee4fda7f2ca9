# bizbots container image.
#
#   docker build -t bizbots .            (or: podman build -t bizbots .)
#   docker run -v bizbots-data:/data bizbots init --config /data/config.yaml \
#       --homeserver-url http://synapse:8008 --domain example.org --listen 0.0.0.0:29330 \
#       --url http://bizbots:29330
#   docker run -v bizbots-data:/data -p 29330:29330 bizbots
#
# The binary is static (SQLite is cgo, linked in statically), so the image
# is the binary, CA certificates and a non-root user: nothing else to patch.
# scripts/check-dockerfile.sh runs the build stage's steps in CI (no
# container engine there), so this file cannot rot unnoticed.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG BUILD_DATE=unknown
RUN CGO_ENABLED=1 go build -trimpath -buildvcs=false \
      -tags 'goolm netgo osusergo sqlite_omit_load_extension' \
      -ldflags "-s -w -linkmode external -extldflags -static \
        -X github.com/bizbots/bizbots/cmd/bizbotscmd.version=${VERSION} \
        -X github.com/bizbots/bizbots/cmd/bizbotscmd.commit=${COMMIT} \
        -X github.com/bizbots/bizbots/cmd/bizbotscmd.buildDate=${BUILD_DATE}" \
      -o /out/bizbots ./cmd/bizbots
RUN /out/bizbots version
RUN mkdir -p /out/rootfs/etc /out/rootfs/data \
 && echo 'bizbots:x:10001:10001:bizbots:/data:/sbin/nologin' > /out/rootfs/etc/passwd \
 && echo 'bizbots:x:10001:' > /out/rootfs/etc/group

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/rootfs/ /
COPY --from=build --chown=10001:10001 /out/rootfs/data /data
COPY --from=build /out/bizbots /bizbots
USER 10001:10001
WORKDIR /data
VOLUME /data
ENV BIZBOTS_CONFIG=/data/config.yaml
EXPOSE 29330
HEALTHCHECK --interval=30s --timeout=6s --start-period=20s --retries=3 \
  CMD ["/bizbots", "healthcheck", "--timeout", "5s"]
ENTRYPOINT ["/bizbots"]
CMD ["serve"]
