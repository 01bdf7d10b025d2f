"""edge-int8's widths, ranges, budgets and energy constants, each with its source."""
from __future__ import annotations



from snnc.targets.base import EnergyConstant, Range

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT8 = (-128, 127)
INT16_SYMMETRIC = (-32767, 32767)   # TFLite 16x8: int16 activations, zero point 0
_TFLITE_SPEC = ("TensorFlow Lite 8-bit quantization specification "
                "(tensorflow.org/lite/performance/quantization_spec)")
RANGES = {
    "weight": Range(-127, 127, f"int8 symmetric weights, zero point 0, -128 unused: {_TFLITE_SPEC}",
                    register_bits=8),
    "bias": Range(INT32_MIN, INT32_MAX, f"int32 bias, scale = input scale x weight scale: {_TFLITE_SPEC}"),
    "multiplier": Range(0, INT32_MAX, "Q0.31 multiplier >= 0: tensorflow/lite/kernels/internal/common.h "
                                      "MultiplyByQuantizedMultiplier"),
    "shift": Range(-31, 30, "TFLITE_DCHECK(shift >= -31 && shift <= 30): tensorflow/lite/kernels/internal/"
                            "common.h MultiplyByQuantizedMultiplier"),
    "activation": Range(*INT8, f"int8 activations with a zero point (int16 with zero point 0, the 16x8 "
                               f"scheme): {_TFLITE_SPEC}"),
}
_DS = ("STM32F745xx/STM32F746xx datasheet DS10916 (ST), features: up to 1 Mbyte of Flash, "
       "320 Kbytes of SRAM (incl. 64 Kbytes DTCM)")
LIMITS = {"flash_bytes": 1024 * 1024, "ram_bytes": 320 * 1024}
LIMIT_SOURCES = {"flash_bytes": _DS, "ram_bytes": _DS}

_H = "Horowitz, ISSCC 2014, 'Computing's energy problem', Fig. 1.1.9 (45 nm, 0.9 V)"
ENERGY = {
    "mac_int8": EnergyConstant(0.2e-12 + 0.1e-12, f"8-bit multiply 0.2 pJ + 32-bit add 0.1 pJ: {_H}"),
    "add_int32": EnergyConstant(0.1e-12, f"32-bit add 0.1 pJ (also each compare and clamp): {_H}"),
    "mul_int32": EnergyConstant(3.1e-12, f"32-bit multiply 3.1 pJ (the requantisation high mul, a PWL "
                                         f"slope product): {_H}"),
    "sram_read_byte": EnergyConstant(20e-12 / 8, f"64-bit read of a 32 KB SRAM 20 pJ, per byte; flash reads "
                                                 f"counted at this figure too (no flash figure given): {_H}",
                                     estimate=True),
}
# energy term -> the per-inference counter it multiplies
TERM_COUNTERS = {"mac_int8": "macs_int8", "add_int32": "adds", "mul_int32": "mults_int32",
                 "sram_read_byte": "bytes_read"}

# Which executor proves edge-int8's arithmetic (TFLite is the reference; the MCU runs TFLite Micro).
# TFLite Micro requantises every int8 and 16x8 (int32 bias) FULLY_CONNECTED and CONV_2D with
# MultiplyByQuantizedMultiplier (tensorflow/lite/kernels/internal/common.cc, double rounding unless
# TFLITE_SINGLE_ROUNDING): micro/kernels/fully_connected.cc Eval -> reference_integer_ops::
# FullyConnectedPerChannel(params, output_multiplier, output_shift, ...) (int16 input with an int32
# bias: the same function, int32 accumulator); micro/kernels/conv.cc Eval -> reference_integer_ops::
# ConvPerChannel; CMSIS-NN's arm_nn_requantize is the same without CMSIS_NN_USE_SINGLE_ROUNDING.
# LiteRT 2.3.0 does not, for FULLY_CONNECTED: under kReference, tflite/kernels/fully_connected.cc
# FullyConnectedPerChannelInt8 / FullyConnectedPerChannelInt16 / FullyConnectedInt8 call the overload of
# reference_integer_ops::FullyConnectedPerChannel / FullyConnected that computes
# round(double(acc) * input_scale * filter_scale / output_scale) once, half away from zero; its optimised
# kernels (BUILTIN_WITHOUT_DEFAULT_DELEGATES) round once too (measured: multiplier 0.5 on -1, -3, 1, 3, -5
# gives -1, -2, 1, 2, -3 in the reference FC, 0, -1, 1, 2, -2 optimised, 0, -2, 0, 2, -2 in XNNPACK).
# LiteRT's reference CONV_2D does: tflite/kernels/conv.cc EvalQuantizedPerChannel (int8) and
# EvalQuantizedPerChannel16x8 (int16, quantized_bias_type INT32) call reference_integer_ops::ConvPerChannel
# with the multipliers of kernel_util.cc PopulateConvolutionQuantizationParams, i.e. MultiplyByQuantizedMultiplier
# (LiteRT 2.3.0's wheel is built with double rounding: measured equal to it on exact halves).
# So the exported model writes each requantising layer as a 1 x 1 CONV_2D (tflite_export.py), whose
# arithmetic is the same in TFLite Micro, CMSIS-NN and LiteRT's reference kernels, and that reference
# kernel run is the check.
REFERENCE_EXECUTOR = ("TFLite's reference kernels (LiteRT 2.3.0, OpResolverType.BUILTIN_REF; verify --backends "
                      "tflite) on the exported .tflite model (snnc export --format tflite), whose requantising "
                      "layers are 1x1 CONV_2D: LiteRT's reference ConvPerChannel requantises with "
                      "MultiplyByQuantizedMultiplier, as TFLite Micro and CMSIS-NN do (LiteRT's reference "
                      "FULLY_CONNECTED rounds double(acc) x scale instead; its optimised kernels, tflite-opt, "
                      "round once too: reported, not proof); onnxruntime on the integer ONNX model beside it")
