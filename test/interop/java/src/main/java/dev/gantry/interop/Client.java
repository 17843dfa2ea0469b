// A gRPC xDS client (Java, io.grpc:grpc-xds) driven by Gantry's interop tests: it reads one JSON
// command per line on stdin, makes the calls it asks for through the xds:/// resolver (bootstrap from
// GRPC_XDS_BOOTSTRAP or GRPC_XDS_BOOTSTRAP_CONFIG), and writes one JSON result per line: which backend
// answered each call (its "backend" response header) and the gRPC status codes.
package dev.gantry.interop;

import com.google.gson.Gson;
import io.grpc.CallOptions;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

public final class Client {
  private static final String HEALTH_CHECK = "/grpc.health.v1.Health/Check";
  private static final Metadata.Key<String> BACKEND =
      Metadata.Key.of("backend", Metadata.ASCII_STRING_MARSHALLER);

  /** Messages are opaque bytes: an empty HealthCheckRequest is zero bytes, so no generated code is needed. */
  private static final MethodDescriptor.Marshaller<byte[]> BYTES =
      new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
          return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
          try {
            return stream.readAllBytes();
          } catch (IOException e) {
            throw Status.INTERNAL.withCause(e).asRuntimeException();
          }
        }
      };

  /** One line of stdin. */
  static final class Command {
    int id;
    String target;
    String method;
    int calls;
    int concurrency;
    Map<String, String> metadata;
    int timeoutMs;
  }

  /** One line of stdout. */
  static final class Result {
    int id;
    Map<String, Integer> backends = new TreeMap<>();
    Map<String, Integer> codes = new TreeMap<>();
    List<String> errors = new ArrayList<>();
  }

  public static void main(String[] args) throws Exception {
    Gson gson = new Gson();
    Map<String, ManagedChannel> channels = new HashMap<>();
    ExecutorService pool = Executors.newCachedThreadPool();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    System.err.println("interop client ready");
    String line;
    while ((line = in.readLine()) != null) {
      if (line.isBlank()) continue;
      Command cmd = gson.fromJson(line, Command.class);
      ManagedChannel channel =
          channels.computeIfAbsent(
              cmd.target, t -> Grpc.newChannelBuilder(t, InsecureChannelCredentials.create()).build());
      Result result = run(pool, channel, cmd);
      System.out.println(gson.toJson(result));
      System.out.flush();
    }
    for (ManagedChannel channel : channels.values()) channel.shutdownNow();
    pool.shutdownNow();
    System.exit(0);
  }

  private static Result run(ExecutorService pool, ManagedChannel channel, Command cmd) throws Exception {
    String method = cmd.method == null || cmd.method.isEmpty() ? HEALTH_CHECK : cmd.method;
    MethodDescriptor<byte[], byte[]> descriptor =
        MethodDescriptor.<byte[], byte[]>newBuilder()
            .setType(MethodDescriptor.MethodType.UNARY)
            .setFullMethodName(method.startsWith("/") ? method.substring(1) : method)
            .setRequestMarshaller(BYTES)
            .setResponseMarshaller(BYTES)
            .build();
    Metadata outgoing = new Metadata();
    if (cmd.metadata != null) {
      for (Map.Entry<String, String> e : cmd.metadata.entrySet()) {
        outgoing.put(Metadata.Key.of(e.getKey(), Metadata.ASCII_STRING_MARSHALLER), e.getValue());
      }
    }
    Result result = new Result();
    result.id = cmd.id;
    AtomicInteger next = new AtomicInteger();
    List<Future<?>> workers = new ArrayList<>();
    for (int w = 0; w < Math.max(1, cmd.concurrency); w++) {
      workers.add(
          pool.submit(
              () -> {
                while (next.getAndIncrement() < cmd.calls) {
                  one(channel, descriptor, outgoing, Math.max(1, cmd.timeoutMs), result);
                }
              }));
    }
    for (Future<?> worker : workers) worker.get();
    return result;
  }

  private static void one(
      ManagedChannel channel,
      MethodDescriptor<byte[], byte[]> descriptor,
      Metadata outgoing,
      int timeoutMs,
      Result result) {
    AtomicReference<Metadata> headers = new AtomicReference<>();
    AtomicReference<Metadata> trailers = new AtomicReference<>();
    io.grpc.Channel intercepted =
        io.grpc.ClientInterceptors.intercept(
            channel,
            MetadataUtils.newAttachHeadersInterceptor(outgoing),
            MetadataUtils.newCaptureMetadataInterceptor(headers, trailers));
    int code;
    String backend = null;
    String error = null;
    try {
      ClientCalls.blockingUnaryCall(
          intercepted,
          descriptor,
          CallOptions.DEFAULT.withDeadlineAfter(timeoutMs, TimeUnit.MILLISECONDS),
          new byte[0]);
      code = 0;
      Metadata received = headers.get();
      backend = received == null ? null : received.get(BACKEND);
    } catch (StatusRuntimeException e) {
      code = e.getStatus().getCode().value();
      error = e.getStatus().getCode() + ": " + e.getStatus().getDescription();
    }
    synchronized (result) {
      result.codes.merge(Integer.toString(code), 1, Integer::sum);
      if (backend != null) result.backends.merge(backend, 1, Integer::sum);
      if (error != null && result.errors.size() < 5) result.errors.add(error);
    }
  }
}
