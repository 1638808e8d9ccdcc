"""Record values (and keys) from bytes to the plain values mapping rules read.

    SourceRecord.value ──> Decoder (json | avro | protobuf | json_schema) ──> dict / list / str ...
                                    └── SchemaRegistry: the writer's schema, by the id in the
                                        record's framing, fetched once and cached

JSON is parsed here too, so every format leaves by the same door: a plain value, or a
`MappingError` that says why not (dead-lettered), or `SchemaPending` (the registry has to be
asked first: the engine holds the record and asks, off the event loop).
"""
