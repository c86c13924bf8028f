"""What a student costs: FLOPs (`flops`), latency on a hardware target by one protocol
(`latency`) through a registered backend (`backends`), both cached per architecture
(`metrics`); hardware targets (`targets`), the memory and size bounds (`limits`), and whether
latencies repeat on a machine (`stability`)."""
