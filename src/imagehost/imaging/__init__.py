"""Pure image work on bytes: sniffing, probing, variant specs, rendering, SVG safety."""
