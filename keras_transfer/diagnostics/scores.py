"""Transferability scores: how well a layer's features, or a source head, suit a target task.

Each score reads what a caller extracted for n target images, either features F (n x d) from one
layer or the source head's outputs, together with the target labels y (n,) in 0..C-1, and
returns one number where higher means "should transfer better". None trains the network; the two
accuracies at the end (k-NN and a linear probe) are the cheap ground truth the others predict.
Each follows its paper's definition; where the authors' code departs from the paper, the
docstring says which one is followed and why.
"""

import numpy as np
from scipy import optimize, sparse, special

# Rows of test examples compared with all training examples at once by `knn_accuracy`: bounds
# the similarity matrix at 1024 x n_train floats (about 400 MB for 50 000 training images).
_KNN_ROWS = 1024


def check_labels(labels, minimum=2):
    """labels as a 1-D integer array, refusing fewer than 2 classes or a class under `minimum`.

    Every score estimates something per class (a class mean, a conditional distribution, a
    regression target), and one image per class gives it nothing to estimate from. Classes are
    0..C-1, so a number skipped in between is a class with 0 images.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D array of classes; got shape "
                         f"{labels.shape}.")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ValueError(f"labels must be integer classes 0..C-1; got dtype {labels.dtype} with "
                         f"values from {labels.min()} to {labels.max()}.")
    counts = np.bincount(labels)
    if np.count_nonzero(counts) < 2:
        raise ValueError(f"a transferability score needs at least 2 classes; every one of the "
                         f"{labels.size} labels is {labels[0]}.")
    short = np.flatnonzero(counts < minimum)
    if short.size:
        first = short[0]
        others = f" (and {short.size - 1} more classes below {minimum})" if short.size > 1 else ""
        raise ValueError(f"class {first} has {counts[first]} image(s); every class 0.."
                         f"{len(counts) - 1} needs at least {minimum}{others}. Add images or "
                         f"renumber the classes so that none is empty.")
    return labels


def logme(features, labels):
    """LogME of You et al., ICML 2021, "LogME: Practical Assessment of Pre-trained Models for
    Transfer Learning": the mean over classes of the maximum log evidence, divided by n, of a
    Bayesian linear regression from the features to that class's one-hot target.

    Prior w ~ N(0, I/alpha), noise N(0, 1/beta). alpha and beta come from the fixed-point
    iteration of the authors' code (thuml/LogME, `LogME._fit_fixed_point`): at most 11 steps,
    starting at alpha = beta = 1, stopping once alpha/beta moves by at most 1e-3 relatively; the
    evidence uses the last alpha, beta with the last posterior mean, as that code does. One
    departure: when n < d that code's log|A| sums only over the n nonzero singular values, so it
    drops (d - n)/2 log alpha; here log|A| covers all d eigenvalues as the paper's formula has it
    (and as the ICML code's d x d decomposition does). For n >= d at full rank both agree.
    """
    f, y = _features_and_labels(features, labels)
    n, d = f.shape
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    sigma = s ** 2  # eigenvalues of F'F; the other d - len(sigma) are 0
    projections = _one_hot(y).T @ u  # C x min(n, d): each one-hot target on the singular vectors
    counts = np.bincount(y)  # y'y of a one-hot target
    evidences = [_max_log_evidence(sigma, projections[c] ** 2, counts[c], n, d)
                 for c in range(len(counts))]
    return float(np.mean(evidences)) / n


def _max_log_evidence(sigma, x2, y2, n, d):
    """Log evidence at the fixed point of alpha, beta for one target y.

    sigma: the min(n, d) eigenvalues of F'F that the SVD gives; x2: the squared projections of y
    on the left singular vectors; y2 = y'y, so y2 - sum(x2) is the part of y that no linear map
    of the features reaches.
    """
    outside = y2 - x2.sum()
    alpha, beta = 1.0, 1.0
    for _ in range(11):
        t = alpha / beta
        gamma = np.sum(sigma / (sigma + t))  # effective number of parameters
        m2 = np.sum(sigma * x2 / (t + sigma) ** 2)  # m'm, the posterior mean's squared norm
        res2 = np.sum(x2 / (1.0 + sigma / t) ** 2) + outside  # ||F m - y||^2
        alpha = gamma / (m2 + 1e-5)
        beta = (n - gamma) / (res2 + 1e-5)
        if abs(alpha / beta - t) / t <= 1e-3:
            break
    log_det_a = np.sum(np.log(alpha + beta * sigma)) + (d - len(sigma)) * np.log(alpha)
    return (d / 2.0 * np.log(alpha) + n / 2.0 * np.log(beta) - 0.5 * log_det_a
            - beta / 2.0 * res2 - alpha / 2.0 * m2 - n / 2.0 * np.log(2.0 * np.pi))


def leep(source_probabilities, labels):
    """LEEP of Nguyen et al., ICML 2020, "LEEP: A New Measure to Evaluate Transferability of
    Learned Representations".

    source_probabilities (n x Z): the source head's softmax theta(x) over its own Z classes.
    From the empirical joint P(y, z) = (1/n) sum over the images i of class y of theta_z(x_i)
    and the conditional P(y | z) = P(y, z) / P(z), LEEP = mean_i log sum_z P(y_i | z) theta_z(x_i):
    the mean log-likelihood of the "expected empirical predictor".
    """
    theta, y = _features_and_labels(source_probabilities, labels)
    if theta.min() < 0.0 or not np.allclose(theta.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("source_probabilities must be the source head's softmax (rows "
                         "non-negative, summing to 1); apply a softmax to logits first.")
    joint = _one_hot(y).T @ theta / len(y)  # C x Z
    source_marginal = joint.sum(axis=0)
    # A source class no image puts weight on has P(z) = 0; its theta_z is 0 for every image too,
    # so its conditional never contributes and is left at 0 instead of 0/0.
    conditional = np.divide(joint, source_marginal, out=np.zeros_like(joint),
                            where=source_marginal > 0)
    expected = np.einsum("iz,iz->i", theta, conditional[y])
    return float(np.mean(np.log(expected)))


def nce(source_labels, labels):
    """NCE of Tran et al., ICCV 2019, "Transferability and Hardness of Supervised
    Classification Tasks": the negative conditional entropy -H(Y | Z) in nats, from the empirical
    joint of the source head's hard labels z (its argmax) and the target labels y. 0 when z
    determines y; -log C when they are independent and the C classes are balanced.
    """
    z = np.asarray(source_labels)
    y = check_labels(labels)
    if z.shape != y.shape or not np.issubdtype(z.dtype, np.integer) or z.min() < 0:
        raise ValueError(f"source_labels must be integer source classes (the source head's "
                         f"argmax), one per label; got dtype {z.dtype} shape {z.shape} for "
                         f"{y.shape} labels.")
    classes = y.max() + 1
    joint = np.bincount(z * classes + y, minlength=(z.max() + 1) * classes)
    joint = joint.reshape(-1, classes) / len(y)  # Z x C
    source_marginal = joint.sum(axis=1, keepdims=True)
    conditional = joint / np.where(source_marginal > 0, source_marginal, 1.0)
    seen = joint > 0  # 0 log 0 = 0: pairs never observed add nothing
    return float(np.sum(joint[seen] * np.log(conditional[seen])))


def h_score(features, labels):
    """H-score of Bao et al., ICIP 2019, "An Information-theoretic Approach to Transferability in
    Task Transfer Learning": tr(cov(f)^+ cov(E[f | y])), with the pseudo-inverse as theirs.

    Between-class spread over total spread, summed over feature directions; at most C - 1. When
    d >= n - 1 the features span every centred direction and it reads C - 1 for any features,
    so it says nothing there: use `shrinkage_h_score`.
    """
    f, y = _features_and_labels(features, labels)
    f = f - f.mean(axis=0)
    covariance = f.T @ f / len(f)
    return float(np.trace(np.linalg.pinv(covariance, rcond=1e-15, hermitian=True)
                          @ _between_class_covariance(f, y)))


def shrinkage_h_score(features, labels):
    """Shrinkage H-score of Ibrahim et al., ICLR 2023, "Newer is not always better: Rethinking
    transferability metrics, their peculiarities, stability and performance":
    tr(cov_a(f)^-1 (1 - a) cov(E[f | y])), with cov_a the Ledoit-Wolf estimate of shrinkage a.

    The features are centred and both covariances divide by n, so with a = 0 this is exactly
    `h_score`. (The authors' code takes cov(E[f | y]) from np.cov, dividing by n - 1 against
    Ledoit-Wolf's n, which scales the score by n / (n - 1).)
    """
    f, y = _features_and_labels(features, labels)
    f = f - f.mean(axis=0)
    covariance, shrinkage = ledoit_wolf(f)
    between = (1.0 - shrinkage) * _between_class_covariance(f, y)
    return float(np.trace(np.linalg.pinv(covariance, rcond=1e-15, hermitian=True) @ between))


def ledoit_wolf(features):
    """The Ledoit-Wolf covariance of features (n x d) and its shrinkage a, as (covariance, a).

    Ledoit & Wolf 2004, "A well-conditioned estimator for large-dimensional covariance
    matrices": (1 - a) S + a mu I, with S the sample covariance (dividing by n), mu = tr(S)/d and
    a = min(b2, d2) / d2 for d2 = ||S - mu I||^2 / d and b2 = sum_i ||x_i x_i' - S||^2 / (n^2 d),
    the estimated error of S. This is the estimator scikit-learn's LedoitWolf computes.
    """
    x = np.asarray(features, dtype=np.float64)
    x = x - x.mean(axis=0)
    n, d = x.shape
    sample = x.T @ x / n
    mu = np.trace(sample) / d
    spread = np.sum(sample ** 2) - 2.0 * mu * np.trace(sample) + d * mu ** 2  # ||S - mu I||^2
    # sum_i ||x_i x_i' - S||^2 = sum_i ||x_i||^4 - n ||S||^2, without forming n d x d matrices.
    error = (np.sum(np.sum(x ** 2, axis=1) ** 2) / n - np.sum(sample ** 2)) / n
    # S already a multiple of I (always so for d = 1) leaves nothing to shrink toward.
    shrinkage = 0.0 if spread <= 0.0 else min(error, spread) / spread
    covariance = (1.0 - shrinkage) * sample
    covariance[np.diag_indices(d)] += shrinkage * mu
    return covariance, shrinkage


def _between_class_covariance(centred, labels):
    """cov(E[f | y]) of centred features: the class means' covariance, weighted by class size."""
    counts = np.bincount(labels)
    means = _one_hot(labels).T @ centred / counts[:, None]
    return means.T @ (means * (counts / len(labels))[:, None])


def _one_hot(labels):
    """The n x C class indicator, sparse: class sums over 50 000 images and 1000 classes
    without a dense 400 MB matrix of zeros."""
    n = len(labels)
    return sparse.csr_array((np.ones(n), (np.arange(n), labels)), shape=(n, labels.max() + 1))


def knn_accuracy(train_features, train_labels, test_features, test_labels, k=20):
    """Test accuracy of a k-nearest-neighbour vote by cosine similarity over training features.

    Cosine rather than Euclidean: a post-ReLU activation's overall size follows an image's
    contrast and brightness more than its class, so features are compared by direction, as in
    the usual k-NN feature probe (Wu et al. 2018; Caron et al. 2021, whose k = 20 is the default
    here, though they weight the votes). Each test image takes the plain majority class of its k
    neighbours; a tie goes to the tied class whose member is nearest.
    """
    train, train_y = _features_and_labels(train_features, train_labels)
    test, test_y = _test_features_and_labels(test_features, test_labels, train.shape[1])
    if not 1 <= k <= len(train):
        raise ValueError(f"k = {k} neighbours is out of range for {len(train)} training "
                         f"images; pass 1 <= k <= {len(train)}.")
    train, test = _unit_rows(train), _unit_rows(test)
    classes = train_y.max() + 1
    predictions = np.empty(len(test), dtype=np.int64)
    for start in range(0, len(test), _KNN_ROWS):
        similarity = test[start:start + _KNN_ROWS] @ train.T
        rows = np.arange(len(similarity))
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        closest_first = np.argsort(-np.take_along_axis(similarity, nearest, axis=1), axis=1,
                                   kind="stable")
        voters = train_y[np.take_along_axis(nearest, closest_first, axis=1)]  # b x k
        votes = np.bincount((rows[:, None] * classes + voters).ravel(),
                            minlength=len(rows) * classes).reshape(len(rows), classes)
        # The first neighbour, closest first, whose class has the most votes decides a tie.
        winning = votes[rows[:, None], voters] == votes.max(axis=1, keepdims=True)
        predictions[start:start + len(rows)] = voters[rows, winning.argmax(axis=1)]
    return float(np.mean(predictions == test_y))


def linear_probe_accuracy(train_features, train_labels, test_features, test_labels, l2=1e-3,
                          max_iterations=1000, tolerance=1e-6):
    """Test accuracy of a multinomial logistic regression fitted on the training features.

    Full-batch L-BFGS (scipy) on the mean softmax cross-entropy plus l2/2 ||W||^2 (the bias is
    not penalised), at most max_iterations steps, stopped once a step changes the loss by less
    than `tolerance` of it. Features are standardised with the training mean and standard
    deviation, so one l2 suits layers whose activations differ in scale.

    With 1,024 images of 512 features nearly separable, scipy's default tolerance (2e-9) runs
    ~340 steps per layer (3.8 s); 1e-6 half as many, moving the accuracies of the default
    sweep's bases by at most 0.004 and not their order over n (BUILD_NOTES.md).
    """
    train, y = _features_and_labels(train_features, train_labels)
    test, test_y = _test_features_and_labels(test_features, test_labels, train.shape[1])
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0.0] = 1.0  # a dead unit stays 0 rather than dividing by zero
    train, test = (train - mean) / std, (test - mean) / std
    (n, d), classes = train.shape, y.max() + 1
    targets = np.eye(classes)[y]

    def loss_and_gradient(parameters):
        weights, bias = parameters[:-classes].reshape(d, classes), parameters[-classes:]
        log_p = train @ weights + bias
        log_p -= special.logsumexp(log_p, axis=1, keepdims=True)
        d_logits = (np.exp(log_p) - targets) / n
        loss = -np.sum(targets * log_p) / n + 0.5 * l2 * np.sum(weights ** 2)
        gradient = np.concatenate([(train.T @ d_logits + l2 * weights).ravel(),
                                   d_logits.sum(axis=0)])
        return loss, gradient

    fit = optimize.minimize(loss_and_gradient, np.zeros((d + 1) * classes), jac=True,
                            method="L-BFGS-B",
                            options={"maxiter": max_iterations, "ftol": tolerance})
    weights, bias = fit.x[:-classes].reshape(d, classes), fit.x[-classes:]
    return float(np.mean(np.argmax(test @ weights + bias, axis=1) == test_y))


def _features_and_labels(features, labels):
    """features as float64 (n x d) and checked labels (n,), or a ValueError naming the shapes."""
    labels = check_labels(labels)
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) != len(labels):
        raise ValueError(f"features must be 2-D (images, features) with one row per label; got "
                         f"{features.shape} for {labels.shape} labels. Flatten conv maps per "
                         f"image first: f.reshape(len(f), -1).")
    return features, labels


def _test_features_and_labels(features, labels, dimension):
    """Held-out features and labels: any class counts, but the training feature dimension."""
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    if (features.ndim != 2 or features.shape[1] != dimension or labels.shape != (len(features),)
            or not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(f"test features must be (images, {dimension}) with one integer label "
                         f"per row; got features {features.shape} and labels {labels.shape} "
                         f"of dtype {labels.dtype}.")
    return features, labels


def _unit_rows(features):
    """Rows scaled to unit length; an all-zero row stays zero (cosine 0 to everything)."""
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.where(norms > 0.0, norms, 1.0)
