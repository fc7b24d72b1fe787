"""Examples that use Clef from outside, as a portal would."""
