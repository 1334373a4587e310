# Gatehouse as a container: a self-contained single-file build on the small runtime-deps image.
#   docker build -t gatehouse .
#   docker run --read-only -v gatehouse-state:/var/lib/gatehouse -v ./gatehouse.yaml:/etc/gatehouse/gatehouse.yaml:ro … gatehouse
# The root filesystem can be read-only: Gatehouse writes only to its state directory (/var/lib/gatehouse,
# a volume: SQLite state, the generated self-signed certificate, the dev issuer's key when enabled).

# ---- build ----------------------------------------------------------------------------------------------
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG TARGETARCH
WORKDIR /source
# Everything the executable's projects need (see .dockerignore); tests, bench and docs stay out.
COPY global.json Directory.Build.props Directory.Packages.props .globalconfig ./
COPY src/ src/
RUN RID=linux-$([ "$TARGETARCH" = arm64 ] && echo arm64 || echo x64) \
 && dotnet publish src/Gatehouse/Gatehouse.csproj -c Release -r "$RID" --self-contained \
      -p:PublishSingleFile=true -o /app

# ---- run ------------------------------------------------------------------------------------------------
# runtime-deps: the native libraries a self-contained .NET app needs, nothing else (no SDK, no runtime).
FROM mcr.microsoft.com/dotnet/runtime-deps:10.0
# $APP_UID is the image's non-root "app" user.
RUN mkdir -p /var/lib/gatehouse /etc/gatehouse && chown "$APP_UID" /var/lib/gatehouse
COPY --from=build /app/ /opt/gatehouse/
# The base image points ASP.NET Core at port 8080; Gatehouse's own configuration decides its listeners.
ENV PATH="/opt/gatehouse:$PATH" ASPNETCORE_HTTP_PORTS=""
USER $APP_UID
VOLUME /var/lib/gatehouse
# 6432: PostgreSQL clients (TLS). 8080: admin HTTP (/healthz, /metrics). The configuration decides the actual
# addresses: listen on 0.0.0.0 inside the container.
EXPOSE 6432 8080
# No curl in runtime-deps: bash's /dev/tcp asks /healthz on the admin port (8080 unless the configuration says otherwise).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${GATEHOUSE_ADMIN_PORT:-8080} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["gatehouse"]
CMD ["serve", "--config", "/etc/gatehouse/gatehouse.yaml"]
