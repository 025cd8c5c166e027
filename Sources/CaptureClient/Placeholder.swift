public enum CaptureClientPlaceholder {}
