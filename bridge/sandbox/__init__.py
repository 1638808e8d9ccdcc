"""Local stand-ins for demos, tests and benchmarks: the Gameball emulator (`emulator`), a
real single-node Kafka broker (`local_kafka`), helpers to produce and read topics
(`kafka_tools`), and the end-to-end demo (`demo`)."""
