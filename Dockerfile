# The lighter command line (cmd/lighter), for the docker-compose.yml fleet:
#   docker build -t sharedlimit/lighter .
#   docker run --rm sharedlimit/lighter demo
# Pure Go (SQLite is modernc.org/sqlite), so the binary is static.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/lighter ./cmd/lighter

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/lighter /usr/local/bin/lighter
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/lighter"]
CMD ["help"]
