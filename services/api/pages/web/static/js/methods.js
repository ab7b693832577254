// Names and plain-language descriptions of the explanation methods the API offers.

const METHODS = {
  gradcam: ["Grad-CAM",
    "Which regions the network's last convolutional layer relied on for this diagnosis (coarse)."],
  integrated_gradients: ["Integrated Gradients",
    "How much each pixel moved the score, added up along a path from a black image to this one."],
  saliency: ["Saliency", "How sensitive the score is to each pixel (the raw gradient)."],
  smoothgrad: ["SmoothGrad",
    "Saliency averaged over slightly noisy copies of the image: less speckled, more stable."],
  tree_shap: ["TreeSHAP",
    "The exact share of each measurement in this decision, computed from the model's trees."],
  kernel_shap: ["Kernel SHAP",
    "The share of each measurement in this decision, estimated by sampling feature subsets."],
  permutation_shap: ["Permutation SHAP",
    "The share of each measurement in this decision, estimated by permuting features."],
};

export function methodName(method) {
  return (METHODS[method] || [method])[0];
}

export function methodDescription(method) {
  return (METHODS[method] || [method, ""])[1];
}
